"""The spool against a real S3 API server that goes away and comes back."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import pytest

from app.config import Settings
from app.storage import LocalObjectStore, S3ObjectStore
from recorder.spool import Spool, SpooledChunk
from tests.s3server import ACCESS_KEY, SECRET_KEY, free_port, s3_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _store(port: int, tmp_path: Path, bucket: str) -> S3ObjectStore:
    return S3ObjectStore(Settings(
        env="test", data_dir=tmp_path, storage_backend="s3",
        s3_endpoint_url=f"http://127.0.0.1:{port}", s3_bucket=bucket,
        s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SECRET_KEY,
        s3_addressing_style="path", s3_max_attempts=1))


def _chunk(tmp_path: Path, seq: int) -> tuple[Path, SpooledChunk]:
    data = f"chunk {seq} ".encode() * 100
    path = tmp_path / f"src-{seq}.webm"
    path.write_bytes(data)
    return path, SpooledChunk(
        key=f"recordings/m/r/t/{seq:06d}.webm", recording_id="r", track_id="t",
        participant_id="p", kind="audio", seq=seq, start_ms=seq * 1000, duration_ms=1000,
        size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


async def test_outage_then_everything_exactly_once(tmp_path: Path) -> None:
    port, bucket = free_port(), f"spool-{uuid.uuid4().hex[:8]}"
    uploaded: list[int] = []

    async def on_uploaded(chunk: SpooledChunk) -> None:
        uploaded.append(chunk.seq)

    with s3_server(port):
        store = _store(port, tmp_path, bucket)
        store.ensure_bucket()
        spool = Spool(tmp_path / "spool", store, on_uploaded=on_uploaded,
                      retry_initial=0.1, retry_max=0.5)
        spool.start()
        for seq in range(3):
            await spool.add(*_chunk(tmp_path, seq))
        assert await spool.drain(10)
    # the store is down
    for seq in range(3, 8):
        await spool.add(*_chunk(tmp_path, seq))
    assert not await spool.drain(1.5)
    assert spool.failures > 0 and len(spool.pending()) == 5
    with s3_server(port):
        store.ensure_bucket()
        assert await spool.drain(15)
        keys = store.list("recordings/m/r/t/")
        assert keys == [f"recordings/m/r/t/{seq:06d}.webm" for seq in range(8)]
    assert uploaded == list(range(8))
    await spool.aclose()
    await spool.aclose()


async def test_restart_uploads_what_is_left(tmp_path: Path) -> None:
    port, bucket = free_port(), f"spool-{uuid.uuid4().hex[:8]}"
    down = _store(port, tmp_path, bucket)
    first = Spool(tmp_path / "spool", down, retry_initial=0.1)
    first.start()
    for seq in range(4):
        await first.add(*_chunk(tmp_path, seq))
    await asyncio.sleep(0.3)
    await first.aclose()  # the recorder stops with nothing uploaded
    (tmp_path / "spool" / "garbage.webm").write_bytes(b"partial, no sidecar")
    with s3_server(port):
        store = _store(port, tmp_path, bucket)
        store.ensure_bucket()
        second = Spool(tmp_path / "spool", store)
        second.start()
        assert await second.drain(10)
        assert len(store.list("recordings/")) == 4
        assert store.get("recordings/m/r/t/000002.webm") == b"chunk 2 " * 100
        await second.aclose()


async def test_a_failing_callback_is_retried_without_a_second_object(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    calls: list[int] = []

    async def on_uploaded(chunk: SpooledChunk) -> None:
        calls.append(chunk.seq)
        if len(calls) == 1:
            raise RuntimeError("the database is busy")

    spool = Spool(tmp_path / "spool", store, on_uploaded=on_uploaded, retry_initial=0.05)
    spool.start()
    for seq in range(2):
        await spool.add(*_chunk(tmp_path, seq))
    assert await spool.drain(5)
    assert calls == [0, 0, 1] and spool.uploads == 2 and spool.failures == 1
    assert store.list("recordings/") == ["recordings/m/r/t/000000.webm",
                                         "recordings/m/r/t/000001.webm"]
    await spool.aclose()


async def test_a_corrupt_spooled_file_is_set_aside(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    spool = Spool(tmp_path / "spool", store, retry_initial=0.05)
    for seq in range(3):
        await spool.add(*_chunk(tmp_path, seq))
    broken = next(c for c in spool.pending() if c.seq == 1)
    (tmp_path / "spool" / f"{broken.name}.webm").write_bytes(b"bit rot")
    spool.start()
    assert await spool.drain(5)
    assert spool.corrupt == 1
    assert store.list("recordings/") == ["recordings/m/r/t/000000.webm",
                                         "recordings/m/r/t/000002.webm"]
    assert sorted(p.suffix for p in (tmp_path / "spool" / "corrupt").iterdir()) == [
        ".json", ".webm"]
    await spool.aclose()


async def test_aclose_can_drain_first(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    spool = Spool(tmp_path / "spool", store)
    spool.start()
    await spool.add(*_chunk(tmp_path, 0))
    await spool.aclose(drain_timeout=5)
    assert store.exists("recordings/m/r/t/000000.webm") and not spool.pending()
    await spool.aclose(drain_timeout=5)
