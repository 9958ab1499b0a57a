"""Join tokens, API keys, passwords and TURN credentials, without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid

import jwt
import pytest

from app.config import Settings
from app.exceptions import InvalidToken, TokenExpired
from app.models import Role
from app.security import (
    decode_join_token,
    hash_password,
    issue_join_token,
    turn_credentials,
    verify_password,
)


@pytest.fixture
def token_settings(tmp_path) -> Settings:
    return Settings(env="test", data_dir=tmp_path, secret_key="k" * 40, token_leeway_seconds=0)


def _issue(settings: Settings, now: float, role: Role = Role.co_host) -> tuple[str, uuid.UUID]:
    meeting = uuid.uuid4()
    token, _ = issue_join_token(settings, meeting_id=meeting, participant_id=uuid.uuid4(),
                                user_id=None, role=role, display_name="Pat", now=now)
    return token, meeting


def test_token_carries_role_and_expires_when_it_says(token_settings: Settings) -> None:
    now = time.time()
    token, meeting = _issue(token_settings, now)
    claims = decode_join_token(token_settings, token, meeting_id=meeting)
    assert claims.role is Role.co_host and claims.meeting_id == meeting
    assert claims.display_name == "Pat"
    assert claims.expires_at.timestamp() == int(now) + token_settings.join_token_ttl_seconds
    raw = jwt.decode(token, options={"verify_signature": False})
    assert 300 <= raw["exp"] - raw["iat"] <= 600

    # valid one second before expiry, refused one second after
    assert decode_join_token(token_settings, _issue(token_settings, now - 599)[0])
    with pytest.raises(TokenExpired):
        decode_join_token(token_settings, _issue(token_settings, now - 601)[0])


def test_leeway_is_bounded(tmp_path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, secret_key="k" * 40)
    now = time.time()
    assert decode_join_token(settings, _issue(settings, now - 630)[0])  # within 60 s leeway
    with pytest.raises(TokenExpired):
        decode_join_token(settings, _issue(settings, now - 661)[0])


def test_tampered_and_mismatched_tokens(token_settings: Settings) -> None:
    token, _meeting = _issue(token_settings, time.time(), role=Role.participant)
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    with pytest.raises(InvalidToken):
        decode_join_token(token_settings, f"{head}.{body}.{flipped}")
    with pytest.raises(InvalidToken):
        decode_join_token(token_settings, token, meeting_id=uuid.uuid4())
    other = Settings(env="test", data_dir=token_settings.data_dir, secret_key="o" * 40)
    with pytest.raises(InvalidToken):
        decode_join_token(other, token)


def test_not_yet_valid_and_missing_claims(token_settings: Settings) -> None:
    future, _ = _issue(token_settings, time.time() + 120)
    with pytest.raises(InvalidToken):
        decode_join_token(token_settings, future)
    no_exp = jwt.encode({"sub": str(uuid.uuid4()), "aud": "verbatim:meeting",
                         "iss": "verbatim"}, token_settings.signing_key, algorithm="HS256")
    with pytest.raises(InvalidToken):
        decode_join_token(token_settings, no_exp)


def test_passwords() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$") and "correct" not in encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)
    assert not verify_password("x", "garbage")


def test_turn_credentials_follow_coturn_rest_scheme(tmp_path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, turn_secret="turnsecret",
                        turn_urls="turn:127.0.0.1:3478", turn_credential_ttl_seconds=600)
    username, credential = turn_credentials(settings, username="peer-1", now=1000)
    assert username == "1600:peer-1"
    expected = base64.b64encode(
        hmac.new(b"turnsecret", b"1600:peer-1", hashlib.sha1).digest()).decode()
    assert credential == expected


def test_production_refuses_placeholder_secrets(tmp_path) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(env="production", data_dir=tmp_path, secret_key="changeme")
    with pytest.raises(ValueError, match="TURN_SECRET"):
        Settings(env="production", data_dir=tmp_path, secret_key="s" * 40,
                 turn_urls="turn:example.org")
    assert Settings(env="production", data_dir=tmp_path, secret_key="s" * 40)
