"""Recording a real meeting: Python participants over signaling and WebRTC, the embedded
recorder, and a real S3 API server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.storage import ObjectStore
from tests.deployment import deployment
from tests.participants import PythonParticipant
from tests.recorder.checks import check_timeline, probe_seconds, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def recording_server(migrated_sqlite_url: str, tmp_path: Path
                     ) -> Iterator[tuple[str, dict[str, str], ObjectStore]]:
    with deployment(migrated_sqlite_url, tmp_path, s3=True,
                    recording_chunk_seconds=2.0) as running:
        yield running.url, running.headers, running.store


async def test_consenting_participants_are_recorded_and_nobody_else(
        recording_server, channel_wavs) -> None:
    base, headers, store = recording_server
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        meeting = (await http.post("/v1/meetings", headers=headers, json={
            "title": "Recorded", "recording_enabled": True})).json()
        mid = meeting["id"]
        alice = PythonParticipant(base, mid, "Alice", audio=channel_wavs["left"],
                                  consent={"recording": True})
        bob = PythonParticipant(base, mid, "Bob", audio=channel_wavs["right"],
                                consent={"recording": True})
        carol = PythonParticipant(base, mid, "Carol", audio=channel_wavs["right"],
                                  consent={"recording": False})
        try:
            for person in (alice, bob, carol):
                await person.join()
            started = await http.post(f"/v1/meetings/{mid}/recordings", headers=headers)
            assert started.status_code == 201, started.text
            recording_id = started.json()["id"]
            await asyncio.sleep(7)
            # Bob withdraws consent: from now on he is not recorded
            await bob.set_consent(recording=False)
            await asyncio.sleep(3)
            stopped = await http.post(f"/v1/meetings/{mid}/recordings/{recording_id}/stop",
                                      headers=headers)
            assert stopped.status_code == 200
            detail = await wait_status(http, recording_id, "finalized", headers)
        finally:
            for person in (alice, bob, carol):
                await person.leave()

    tracks = {t["participant_id"]: t for t in detail["tracks"]}
    assert set(tracks) == {alice.id, bob.id}, "only consenting participants have tracks"
    keys = sorted(c["storage_key"] for c in detail["chunks"])
    assert keys == store.list(f"recordings/{mid}/{recording_id}/"), "storage == manifest"
    assert all(c["uploaded_at"] for c in detail["chunks"])
    assert carol.id not in str(detail) and all(carol.id not in k for k in keys)
    assert len(detail["consent_log_ids"]) == 2

    by_person: dict[str, list[dict]] = {alice.id: [], bob.id: []}
    for chunk in detail["chunks"]:
        by_person[chunk["participant_id"]].append(chunk)
        played = probe_seconds(store.get(chunk["storage_key"]))
        assert abs(played * 1000 - chunk["duration_ms"]) < 100
    alice_ms = sum(c["duration_ms"] for c in by_person[alice.id])
    bob_ms = sum(c["duration_ms"] for c in by_person[bob.id])
    assert alice_ms > 8000
    assert 5000 < bob_ms < alice_ms - 2000, "Bob stopped being recorded when he withdrew"
    starts = [c["start_ms"] for c in sorted(by_person[alice.id], key=lambda c: c["seq"])]
    assert starts == sorted(starts) and detail["duration_ms"] >= alice_ms - 100
    check_timeline(detail)
