"""Secrets and tokens: passwords, API keys, join tokens, OIDC tokens, TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from app.config import Settings
from app.exceptions import InvalidToken, TokenExpired, Unauthenticated
from app.models import Role

JOIN_TOKEN_ALGORITHM = "HS256"
JOIN_TOKEN_AUDIENCE = "verbatim:meeting"
JOIN_TOKEN_ISSUER = "verbatim"
API_KEY_PREFIX = "vbk_"
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

# --------------------------------------------------------------------------- passwords

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, _unb64(digest))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------- API keys


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """API keys are long random strings, so a plain SHA-256 is a sound way to store them."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


# --------------------------------------------------------------------------- join tokens


@dataclass(frozen=True, slots=True)
class JoinClaims:
    """Who a join token admits, to which meeting, as what."""

    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    user_id: uuid.UUID | None
    role: Role
    display_name: str
    expires_at: datetime


def issue_join_token(
    settings: Settings,
    *,
    meeting_id: uuid.UUID,
    participant_id: uuid.UUID,
    user_id: uuid.UUID | None,
    role: Role,
    display_name: str,
    now: float | None = None,
) -> tuple[str, datetime]:
    issued = int(now if now is not None else time.time())
    expires = issued + settings.join_token_ttl_seconds
    claims = {
        "iss": JOIN_TOKEN_ISSUER,
        "aud": JOIN_TOKEN_AUDIENCE,
        "sub": str(participant_id),
        "meeting": str(meeting_id),
        "user": str(user_id) if user_id else None,
        "role": role.value,
        "name": display_name,
        "iat": issued,
        "nbf": issued,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, settings.signing_key, algorithm=JOIN_TOKEN_ALGORITHM)
    return token, datetime.fromtimestamp(expires, UTC)


def decode_join_token(
    settings: Settings, token: str, *, meeting_id: uuid.UUID | None = None
) -> JoinClaims:
    """Verify a join token; raise ``TokenExpired`` or ``InvalidToken`` when it won't do.

    With ``meeting_id`` the token must also be for that meeting.
    """
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[JOIN_TOKEN_ALGORITHM],
            audience=JOIN_TOKEN_AUDIENCE,
            issuer=JOIN_TOKEN_ISSUER,
            leeway=settings.token_leeway_seconds,
            options={"require": ["exp", "nbf", "iat", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired("The join token has expired; join the meeting again") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"The join token is not valid: {exc}") from exc
    parsed = _join_claims(claims)
    if meeting_id is not None and parsed.meeting_id != meeting_id:
        raise InvalidToken("The join token is for another meeting")
    return parsed


def _join_claims(claims: dict[str, object]) -> JoinClaims:
    try:
        user = claims.get("user")
        return JoinClaims(
            meeting_id=uuid.UUID(str(claims["meeting"])),
            participant_id=uuid.UUID(str(claims["sub"])),
            user_id=uuid.UUID(str(user)) if user else None,
            role=Role(str(claims["role"])),
            display_name=str(claims.get("name") or ""),
            expires_at=datetime.fromtimestamp(int(str(claims["exp"])), UTC),
        )
    except (KeyError, ValueError) as exc:
        raise InvalidToken("The join token is missing a claim") from exc


def token_algorithm(token: str) -> str | None:
    """The ``alg`` a JWT claims in its header, or None if it is not a JWT at all."""
    try:
        return str(jwt.get_unverified_header(token).get("alg"))
    except jwt.PyJWTError:
        return None


# --------------------------------------------------------------------------- OIDC


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    subject: str
    email: str | None
    name: str | None


class OidcVerifier:
    """Verifies bearer JWTs of an external OpenID Connect provider against its JWKS."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.oidc_jwks_url and settings.oidc_issuer and settings.oidc_audience):
            raise ValueError("OIDC needs VERBATIM_OIDC_JWKS_URL, _ISSUER and _AUDIENCE")
        unsafe = set(settings.oidc_algorithms) - ASYMMETRIC_ALGORITHMS
        if unsafe:
            raise ValueError(f"OIDC algorithms must be asymmetric, not {sorted(unsafe)}")
        self._issuer = settings.oidc_issuer
        self._audience = settings.oidc_audience
        self._algorithms = list(settings.oidc_algorithms)
        self._leeway = settings.token_leeway_seconds
        self._jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=300)

    def verify(self, token: str) -> OidcIdentity:
        """Blocking (it may fetch the JWKS): call it from a worker thread."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("The bearer token has expired") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise Unauthenticated("The identity provider's keys could not be fetched") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"The bearer token is not valid: {exc}") from exc
        return OidcIdentity(
            subject=str(claims["sub"]),
            email=claims.get("email"),
            name=claims.get("name") or claims.get("preferred_username"),
        )


# --------------------------------------------------------------------------- TURN


def turn_credentials(
    settings: Settings, *, username: str, now: float | None = None
) -> tuple[str, str]:
    """Ephemeral TURN credentials in coturn's REST-API scheme (``use-auth-secret``).

    The username is ``expiry:username`` and the password base64(HMAC-SHA1(secret, username)).
    """
    if settings.turn_secret is None:
        raise ValueError("VERBATIM_TURN_SECRET is not set")
    expiry = int(now if now is not None else time.time()) + settings.turn_credential_ttl_seconds
    turn_user = f"{expiry}:{username}"
    mac = hmac.new(
        settings.turn_secret.get_secret_value().encode(), turn_user.encode(), hashlib.sha1
    )
    return turn_user, base64.b64encode(mac.digest()).decode()
