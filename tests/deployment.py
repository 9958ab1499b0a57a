"""A whole Verbatim for end-to-end tests: the API served on loopback (with its embedded
recorder unless told otherwise), optionally a real S3 API server, and a host account."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import crud
from app.config import Settings
from app.db import create_db_engine, session_scope
from app.main import create_app
from app.storage import ObjectStore, create_object_store
from tests.conftest import TEST_SECRET, _empty_tables, unique_email
from tests.s3server import ACCESS_KEY, SECRET_KEY, free_port, s3_server
from tests.servers import serve_in_thread


@dataclass
class Deployment:
    url: str
    headers: dict[str, str]
    settings: Settings
    store: ObjectStore
    s3_port: int | None


def host_headers(settings: Settings) -> dict[str, str]:
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        user = crud.create_user(session, email=unique_email(), display_name="Host")
        _, key = crud.create_api_key(session, user=user)
    engine.dispose()
    return {"X-API-Key": key}


@contextmanager
def deployment(database_url: str, data_dir: Path, *, s3: bool = False, **overrides: Any
               ) -> Iterator[Deployment]:
    _empty_tables(database_url)
    port, s3_port = free_port(), free_port() if s3 else None
    with ExitStack() as stack:
        if s3:
            endpoint = stack.enter_context(s3_server(s3_port))
            overrides = {"storage_backend": "s3", "s3_endpoint_url": endpoint,
                         "s3_bucket": f"b-{uuid.uuid4().hex[:8]}",
                         "s3_access_key_id": ACCESS_KEY, "s3_secret_access_key": SECRET_KEY,
                         "s3_addressing_style": "path", **overrides}
        settings = Settings(env="test", data_dir=data_dir, database_url=database_url,
                            secret_key=TEST_SECRET, port=port, **overrides)
        store = create_object_store(settings)
        store.ensure_bucket()
        headers = host_headers(settings)
        url = stack.enter_context(serve_in_thread(create_app(settings), port=port))
        yield Deployment(url, headers, settings, store, s3_port)
