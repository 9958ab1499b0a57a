"""Bad input gets application/problem+json with the right status and a stable type."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest

from app.config import Settings
from app.models import Role
from app.security import issue_join_token
from tests.app.conftest import Account, create_meeting, join

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:verbatim:problem:{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_malformed_json(http: httpx.Client, host: Account) -> None:
    response = http.post("/v1/meetings", content=b'{"title": "x",',
                         headers={**host.headers, "content-type": "application/json"})
    assert_problem(response, 400, "malformed-json")


def test_wrong_types_name_the_field(http: httpx.Client, host: Account) -> None:
    response = http.post("/v1/meetings", json={"title": "x", "max_participants": "many"},
                         headers=host.headers)
    body = assert_problem(response, 422, "validation-error")
    assert [error["field"] for error in body["errors"]] == ["max_participants"]

    missing = http.post("/v1/meetings", json={}, headers=host.headers)
    assert [e["field"] for e in assert_problem(missing, 422, "validation-error")["errors"]] == [
        "title"]

    backwards = http.post("/v1/meetings", json={
        "title": "x", "scheduled_start": "2026-12-01T10:00:00Z",
        "scheduled_end": "2026-12-01T09:00:00Z"}, headers=host.headers)
    assert_problem(backwards, 422, "validation-error")


def test_unknown_and_malformed_meeting_ids(http: httpx.Client, host: Account) -> None:
    assert_problem(http.get(f"/v1/meetings/{uuid.uuid4()}", headers=host.headers),
                   404, "not-found")
    body = assert_problem(http.get("/v1/meetings/not-a-uuid", headers=host.headers),
                          422, "validation-error")
    assert body["errors"][0]["field"] == "meeting_id"
    assert_problem(join(http, str(uuid.uuid4())), 404, "not-found")
    assert_problem(http.get("/v1/no-such-route"), 404, "not-found")
    assert_problem(http.delete("/v1/meetings", headers=host.headers), 405, "method-not-allowed")


def test_missing_and_unknown_api_keys(http: httpx.Client) -> None:
    response = assert_problem(http.get("/v1/meetings"), 401, "unauthenticated")
    assert "API key" in response["detail"]
    assert_problem(http.get("/v1/meetings", headers={"X-API-Key": "vbk_unknown"}),
                   401, "invalid-token")
    assert_problem(http.get("/v1/meetings", headers={"Authorization": "Basic abc"}),
                   401, "unauthenticated")
    assert_problem(http.get("/v1/meetings", headers={"Authorization": "Bearer garbage"}),
                   401, "invalid-token")


def _participant_token(http: httpx.Client, host: Account) -> tuple[str, str]:
    meeting = create_meeting(http, host)
    return meeting["id"], join(http, meeting["id"]).json()["token"]


def test_expired_join_token(http: httpx.Client, host: Account, settings: Settings) -> None:
    meeting_id, token = _participant_token(http, host)
    claims = jwt.decode(token, options={"verify_signature": False})
    past = time.time() - settings.join_token_ttl_seconds - settings.token_leeway_seconds - 5
    expired, _ = issue_join_token(
        settings, meeting_id=uuid.UUID(meeting_id), participant_id=uuid.UUID(claims["sub"]),
        user_id=None, role=Role.participant, display_name="Guest", now=past)
    response = http.post(f"/v1/meetings/{meeting_id}/consent", json={"ai": True},
                         headers={"Authorization": f"Bearer {expired}"})
    assert_problem(response, 401, "token-expired")


@pytest.mark.parametrize("forge", ["tamper", "other-key", "none-alg"])
def test_forged_join_tokens(http: httpx.Client, host: Account, forge: str) -> None:
    meeting_id, token = _participant_token(http, host)
    claims = jwt.decode(token, options={"verify_signature": False})
    if forge == "tamper":
        header, _payload, signature = token.split(".")
        claims["role"] = "host"
        forged_payload = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode())
        forged = f"{header}.{forged_payload.decode()}.{signature}"
    elif forge == "other-key":
        forged = jwt.encode({**claims, "role": "host"}, "x" * 48, algorithm="HS256")
    else:
        forged = jwt.encode({**claims, "role": "host"}, None, algorithm="none")
    response = http.post(f"/v1/meetings/{meeting_id}/consent", json={"ai": True},
                         headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401, "invalid-token")


def test_token_for_another_meeting(http: httpx.Client, host: Account) -> None:
    _, token = _participant_token(http, host)
    other = create_meeting(http, host)
    response = http.post(f"/v1/meetings/{other['id']}/consent", json={"ai": True},
                         headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 403, "forbidden")


def test_participant_token_is_not_a_user_key(http: httpx.Client, host: Account) -> None:
    _, token = _participant_token(http, host)
    response = http.get("/v1/meetings", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "unauthenticated")
