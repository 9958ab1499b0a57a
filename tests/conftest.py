"""Project-wide fixtures: databases (SQLite and PostgreSQL), settings and a real server.

PostgreSQL and Redis are the real servers on loopback (``VERBATIM_TEST_POSTGRES_URL``,
``VERBATIM_TEST_REDIS_URL`` override where they are).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from app import migrations
from app.config import Settings
from tests.servers import serve_in_thread

POSTGRES_ADMIN_URL = os.environ.get(
    "VERBATIM_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("VERBATIM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
SPEECH = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "speech"


def fresh_postgres_database(name: str) -> str:
    """Drop and create a database on the test server; return its URL."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def migrated_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'verbatim.db'}"
    migrations.upgrade(Settings(database_url=url))
    return url


@pytest.fixture(scope="session")
def migrated_postgres_url() -> str:
    url = fresh_postgres_database(f"verbatim_test_{os.getpid()}")
    migrations.upgrade(Settings(database_url=url))
    return url


def _empty_tables(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
                connection.execute(sa.text(f"TRUNCATE {names} CASCADE"))
            else:
                for table in reversed(SQLModel.metadata.sorted_tables):
                    connection.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty, migrated database: each test runs once on SQLite and once on PostgreSQL."""
    fixture = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_postgres_url"
    url: str = request.getfixturevalue(fixture)
    _empty_tables(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=TEST_SECRET,
        recorder_embedded=False,  # tests that record start their own recorder
    )


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The real application served by uvicorn on a free loopback port."""
    from app.main import create_app

    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


def speech_file(name: str) -> Path:
    path = SPEECH / name
    if not path.exists():
        pytest.skip(f"speech clip {path} is missing (shared/testdata is not beside the repo)")
    return path


@pytest.fixture(scope="session")
def channel_wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two speakers of stereo_diarization.wav as mono 16-bit WAVs (Chromium's fake mic)."""
    source = speech_file("stereo_diarization.wav")
    out = tmp_path_factory.mktemp("wav")
    wavs = {}
    for name, channel in (("left", "FL"), ("right", "FR")):
        target = out / f"{name}.wav"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-filter_complex",
             f"[0:a]pan=mono|c0={channel}[a]", "-map", "[a]", "-ar", "48000",
             "-acodec", "pcm_s16le", str(target)],
            check=True, timeout=60,
        )
        wavs[name] = target
    return wavs


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"
