"""The errors the control plane raises, in one tree.

Each error names what went wrong and carries the HTTP status and the stable problem type
(RFC 9457) it becomes at the REST edge (see ``app.problems``). The signaling edge maps the
same errors to JSON-RPC errors. ``docs/errors.md`` lists every type.

    VerbatimError
    ├── BadRequest            400 bad-request
    ├── Unauthenticated       401 unauthenticated
    │   └── InvalidToken      401 invalid-token
    │       └── TokenExpired  401 token-expired
    ├── Forbidden             403 forbidden
    │   └── WrongPassword     403 wrong-password
    ├── NotFound              404 not-found
    ├── Conflict              409 conflict
    │   ├── MeetingEnded      409 meeting-ended
    │   ├── MeetingFull       409 meeting-full
    │   └── IllegalTransition 409 illegal-transition
    ├── ConsentRequired       422 consent-required
    └── ServiceUnavailable    503 service-unavailable
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "urn:verbatim:problem:"


class VerbatimError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(VerbatimError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthenticated(VerbatimError):
    status, slug, title = 401, "unauthenticated", "Authentication required"


class InvalidToken(Unauthenticated):
    slug, title = "invalid-token", "Invalid token"


class TokenExpired(InvalidToken):
    slug, title = "token-expired", "Token expired"


class Forbidden(VerbatimError):
    status, slug, title = 403, "forbidden", "Forbidden"


class WrongPassword(Forbidden):
    slug, title = "wrong-password", "Wrong meeting password"


class NotFound(VerbatimError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(VerbatimError):
    status, slug, title = 409, "conflict", "Conflict"


class MeetingEnded(Conflict):
    slug, title = "meeting-ended", "The meeting has ended"


class MeetingFull(Conflict):
    slug, title = "meeting-full", "The meeting is full"


class IllegalTransition(Conflict):
    slug, title = "illegal-transition", "Illegal state transition"


class ConsentRequired(VerbatimError):
    status, slug, title = 422, "consent-required", "Consent answers required"


class ServiceUnavailable(VerbatimError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"
