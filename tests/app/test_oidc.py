"""Bearer JWTs from an external OpenID Connect provider, verified against a real JWKS server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import Settings
from app.main import create_app
from tests.conftest import TEST_SECRET
from tests.servers import serve_in_thread

ISSUER, AUDIENCE = "https://idp.example.test", "verbatim-api"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def oidc_server(database_url: str, tmp_path: Path, jwks_url: str) -> Iterator[str]:
    settings = Settings(env="test", data_dir=tmp_path, database_url=database_url,
                        secret_key=TEST_SECRET, oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                        oidc_jwks_url=jwks_url)
    with serve_in_thread(create_app(settings)) as url:
        yield url


def _token(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp|42", "email": "oidc@example.com",
              "name": "Olive", "iat": now, "exp": now + 300, **overrides}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_valid_token_signs_the_user_in(oidc_server: str, signing_key) -> None:
    headers = {"Authorization": f"Bearer {_token(signing_key)}"}
    me = httpx.get(f"{oidc_server}/v1/users/me", headers=headers).json()
    assert me["email"] == "oidc@example.com" and me["display_name"] == "Olive"
    again = httpx.get(f"{oidc_server}/v1/users/me", headers=headers).json()
    assert again["id"] == me["id"]


@pytest.mark.parametrize("overrides", [{"aud": "someone-else"}, {"iss": "https://evil.test"},
                                       {"exp": int(time.time()) - 3600}])
def test_wrong_audience_issuer_or_expiry(oidc_server: str, signing_key, overrides) -> None:
    response = httpx.get(f"{oidc_server}/v1/users/me",
                         headers={"Authorization": f"Bearer {_token(signing_key, **overrides)}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    """Signed by hand: PyJWT itself refuses to use a JWK as an HMAC secret."""
    def part(value: dict) -> str:
        return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()

    signing_input = f"{part(header)}.{part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{jwt.utils.base64url_encode(mac).decode()}"


def test_public_key_as_hmac_secret_is_refused(oidc_server: str, signing_key) -> None:
    """The CVE-2026-48526 shape: an HS256 token keyed with the provider's public JWK."""
    public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key())
    now = int(time.time())
    forged = _hs256({"alg": "HS256", "typ": "JWT", "kid": "k1"},
                    {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp|1", "iat": now,
                     "exp": now + 300}, public_jwk.encode())
    response = httpx.get(f"{oidc_server}/v1/users/me",
                         headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["type"].endswith("invalid-token")
