"""The recorder survives storage outages and its own death."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.config import Settings
from app.db import create_db_engine
from recorder.service import RecorderService
from tests.conftest import TEST_SECRET
from tests.deployment import deployment
from tests.participants import PythonParticipant
from tests.recorder.checks import check_complete, wait_status
from tests.recorder.sinks import WavSink
from tests.s3server import ACCESS_KEY, SECRET_KEY, stop_server_on

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def running(migrated_sqlite_url: str, tmp_path: Path) -> Iterator[dict]:
    """An API server without an embedded recorder, S3 on a known port, a host account."""
    with deployment(migrated_sqlite_url, tmp_path, s3=True, s3_max_attempts=1,
                    recording_chunk_seconds=2.0, recorder_embedded=False,
                    recorder_lease_seconds=3.0) as running:
        yield {"url": running.url, "headers": running.headers,
               "settings": running.settings, "store": running.store,
               "s3_port": running.s3_port}


async def _meeting_with(base: str, headers: dict, wavs: dict, consent: dict
                        ) -> tuple[str, list[PythonParticipant]]:
    async with httpx.AsyncClient(base_url=base) as http:
        meeting = (await http.post("/v1/meetings", headers=headers, json={
            "title": "Resilience", "recording_enabled": True,
            "transcription_enabled": True})).json()
    people = [PythonParticipant(base, meeting["id"], name, audio=wavs[side], consent=consent)
              for name, side in (("Alice", "left"), ("Bob", "right"))]
    for person in people:
        await person.join()
    return meeting["id"], people


async def test_storage_outage_loses_nothing(running, channel_wavs, tmp_path: Path
                                            ) -> None:
    settings, store = running["settings"], running["store"]
    engine = create_db_engine(settings)
    sink = WavSink(tmp_path)
    recorder = RecorderService(settings=settings, engine=engine, store=store, sink=sink)
    await recorder.start()
    mid, people = await _meeting_with(running["url"], running["headers"], channel_wavs,
                                      {"recording": True, "transcription": True})
    try:
        async with httpx.AsyncClient(base_url=running["url"], timeout=20) as http:
            started = await http.post(f"/v1/meetings/{mid}/recordings",
                                      headers=running["headers"])
            recording_id = started.json()["id"]
            await people[1].set_consent(transcription=False)
            await asyncio.sleep(4)
            # storage goes away for 30 s while the meeting and the recording go on
            outage = asyncio.to_thread(_outage, running["s3_port"], 30)
            await outage
            await asyncio.sleep(2)
            await http.post(f"/v1/meetings/{mid}/recordings/{recording_id}/stop",
                            headers=running["headers"])
            detail = await wait_status(http, recording_id, "finalized",
                                        running["headers"], timeout=90)
    finally:
        for person in people:
            await person.leave()
        await recorder.aclose()
        engine.dispose()
    assert recorder.spool.failures > 0, "the outage was noticed"
    check_complete(detail, store)
    alice = [c for c in detail["chunks"] if c["participant_id"] == people[0].id]
    assert sum(c["duration_ms"] for c in alice) > 30_000
    # the audio tap got Alice (who agreed to transcription), not Bob (who withdrew it)
    taps = dict(sink.streams)
    assert people[0].id in taps
    with wave.open(str(taps[people[0].id].path)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert wav.getframerate() == 16000 and len(samples) > 16000 * 20
        assert np.abs(samples).max() > 1000
    assert taps[people[0].id].first_ms is not None
    if people[1].id in taps:  # tapped for at most a moment before he withdrew
        with wave.open(str(taps[people[1].id].path)) as wav:
            assert wav.getnframes() < 16000 * 3


def _outage(port: int, seconds: float) -> None:
    """Take the S3 server down for a while, then bring it back on the same port."""
    restart = stop_server_on(port)
    time.sleep(seconds)
    restart()


def _recorder_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VERBATIM_DATA_DIR": str(settings.data_dir),
           "VERBATIM_DATABASE_URL": str(settings.database_url),
           "VERBATIM_SECRET_KEY": TEST_SECRET, "VERBATIM_STORAGE_BACKEND": "s3",
           "VERBATIM_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
           "VERBATIM_S3_BUCKET": settings.s3_bucket,
           "VERBATIM_S3_ACCESS_KEY_ID": ACCESS_KEY, "VERBATIM_S3_SECRET_ACCESS_KEY": SECRET_KEY,
           "VERBATIM_S3_ADDRESSING_STYLE": "path", "VERBATIM_RECORDING_CHUNK_SECONDS": "2",
           "VERBATIM_RECORDER_LEASE_SECONDS": "3", "VERBATIM_RECORDER_SIGNAL_URL":
           settings.signal_url, "VERBATIM_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "recorder"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_recorder_killed_and_restarted(running, channel_wavs) -> None:
    settings, store = running["settings"], running["store"]
    first = _recorder_process(settings)
    mid, people = await _meeting_with(running["url"], running["headers"], channel_wavs,
                                      {"recording": True, "transcription": False})
    second = None
    try:
        async with httpx.AsyncClient(base_url=running["url"], timeout=20) as http:
            started = await http.post(f"/v1/meetings/{mid}/recordings",
                                      headers=running["headers"])
            recording_id = started.json()["id"]
            await asyncio.sleep(8)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            await asyncio.sleep(2)
            second = _recorder_process(settings)
            await asyncio.sleep(12)
            await http.post(f"/v1/meetings/{mid}/recordings/{recording_id}/stop",
                            headers=running["headers"])
            detail = await wait_status(http, recording_id, "finalized",
                                        running["headers"], timeout=60)
    finally:
        for person in people:
            await person.leave()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(20)
    check_complete(detail, store)
    for person in people:
        chunks = sorted((c for c in detail["chunks"] if c["participant_id"] == person.id),
                        key=lambda c: c["seq"])
        gaps = [g for g in detail["gaps"]
                if g["track_id"] == chunks[0]["track_id"] and g["reason"] == "interrupted"]
        assert len(gaps) == 1, ([(c["seq"], c["start_ms"], c["duration_ms"]) for c in chunks],
                                detail["gaps"])
        gap = gaps[0]
        before = [c for c in chunks if c["start_ms"] < gap["start_ms"]]
        after = [c for c in chunks if c["start_ms"] >= gap["end_ms"]]
        assert before and after and len(before) + len(after) == len(chunks), (
            [(c["seq"], c["start_ms"], c["duration_ms"]) for c in chunks], gap)
        assert 1500 < gap["end_ms"] - gap["start_ms"] < 15_000
