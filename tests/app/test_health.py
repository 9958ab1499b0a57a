from __future__ import annotations

from pathlib import Path

import httpx

from app.config import Settings
from app.main import create_app
from tests.conftest import REDIS_URL, TEST_SECRET
from tests.servers import serve_in_thread


def test_healthz_and_readyz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}


def test_readyz_reports_unreachable_services(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, secret_key=TEST_SECRET,
                        database_url="postgresql://nobody@127.0.0.1:1/none",
                        redis_url="redis://127.0.0.1:1/0", storage_backend="s3",
                        s3_endpoint_url="http://127.0.0.1:9", s3_max_attempts=1)
    with serve_in_thread(create_app(settings)) as url:
        response = httpx.get(f"{url}/readyz", timeout=15)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("error") and checks["redis"].startswith("error")
    assert checks["storage"].startswith("error")


def test_readyz_with_redis(database_url: str, tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, secret_key=TEST_SECRET,
                        database_url=database_url, redis_url=REDIS_URL)
    with serve_in_thread(create_app(settings)) as url:
        response = httpx.get(f"{url}/readyz", timeout=15)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"] == "ok"


def test_openapi_and_docs(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert "/v1/meetings/{meeting_id}/join" in spec["paths"]
    assert http.get("/docs").status_code == 200
