"""The recordings REST API: lifecycle, manifest, downloads, deletion and who may do what."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest

from app import recordings
from app.config import Settings
from app.db import create_db_engine, session_scope
from app.models import RecordingChunk, RecordingStatus
from app.storage import create_object_store
from recorder.chunks import ChunkWriter
from tests.app.conftest import Account, create_meeting, join
from tests.conftest import speech_file
from tests.recorder.test_chunks import opus_packets


def _start(http: httpx.Client, meeting_id: str, account: Account) -> httpx.Response:
    return http.post(f"/v1/meetings/{meeting_id}/recordings", headers=account.headers)


@pytest.fixture
def recorded(http: httpx.Client, host: Account, settings: Settings, tmp_path: Path) -> dict:
    """A meeting with a recording of one participant's audio: three real chunks."""
    meeting = create_meeting(http, host, recording_enabled=True)
    joined = join(http, meeting["id"], consent={"recording": True}).json()
    started = _start(http, meeting["id"], host)
    assert started.status_code == 201, started.text
    recording = started.json()
    writer = ChunkWriter(kind="audio", directory=tmp_path / "chunks", chunk_seconds=3)
    files = [c for i, p in enumerate(opus_packets(speech_file("jfk.flac"))[:400])
             if (c := writer.write(bytes(p), i * 960))]
    files.append(writer.close())
    store = create_object_store(settings)
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        row = recordings.get_recording(session, recording_id=uuid.UUID(recording["id"]))
        track = recordings.add_track(session, recording=row, kind="audio", codec="opus",
                                     participant_id=uuid.UUID(joined["participant"]["id"]))
        for chunk in files:
            key = f"{row.storage_prefix}{track.id}/{chunk.seq:06d}.webm"
            store.put(key, chunk.path.read_bytes())
            recordings.add_chunk(session, chunk=RecordingChunk(
                recording_id=row.id, track_id=track.id, participant_id=track.participant_id,
                kind="audio", seq=chunk.seq, start_ms=chunk.seq * 3000,
                duration_ms=chunk.duration_ms, size_bytes=chunk.size_bytes,
                sha256=chunk.sha256, storage_key=key, uploaded_at=row.started_at))
        track_id = str(track.id)
    engine.dispose()
    return {"meeting": meeting, "recording": recording, "track_id": track_id,
            "chunks": len(files), "store": store}


def test_only_hosts_start_and_stop(http: httpx.Client, host: Account, make_account) -> None:
    member = make_account("Member")
    meeting = create_meeting(http, host, recording_enabled=True)
    join(http, meeting["id"], member, consent={"recording": True}).raise_for_status()
    assert _start(http, meeting["id"], member).status_code == 403
    first = _start(http, meeting["id"], host)
    assert first.status_code == 201 and first.json()["status"] == "recording"
    assert _start(http, meeting["id"], host).status_code == 409
    rid = first.json()["id"]
    stop_url = f"/v1/meetings/{meeting['id']}/recordings/{rid}/stop"
    assert http.post(stop_url, headers=member.headers).status_code == 403
    stopped = http.post(stop_url, headers=host.headers)
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopping"
    assert http.post(stop_url, headers=host.headers).status_code == 409

    not_enabled = create_meeting(http, host)
    join(http, not_enabled["id"]).raise_for_status()
    assert _start(http, not_enabled["id"], host).json()["type"].endswith("forbidden")


def test_manifest_and_downloads(http: httpx.Client, host: Account, recorded: dict) -> None:
    rid = recorded["recording"]["id"]
    listed = http.get(f"/v1/meetings/{recorded['meeting']['id']}/recordings",
                      headers=host.headers).json()
    assert [r["id"] for r in listed] == [rid]
    detail = http.get(f"/v1/recordings/{rid}", headers=host.headers).json()
    assert len(detail["tracks"]) == 1 and len(detail["chunks"]) == recorded["chunks"]
    assert detail["consent_log_ids"] and detail["gaps"] == []

    chunk = detail["chunks"][1]
    body = http.get(f"/v1/recordings/{rid}/chunks/{chunk['id']}", headers=host.headers)
    assert body.status_code == 200 and body.content == recorded["store"].get(
        chunk["storage_key"])
    assert http.get(f"/v1/recordings/{rid}/chunks/{uuid.uuid4()}",
                    headers=host.headers).status_code == 404

    whole = http.get(f"/v1/recordings/{rid}/tracks/{recorded['track_id']}",
                     headers=host.headers)
    assert whole.status_code == 200
    with tempfile.NamedTemporaryFile(suffix=".webm") as handle:
        handle.write(whole.content)
        handle.flush()
        seconds = float(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             handle.name], capture_output=True, text=True, check=True).stdout)
    assert abs(seconds - 400 * 0.02) < 0.2


def test_strangers_see_nothing(http: httpx.Client, recorded: dict, make_account) -> None:
    stranger = make_account("Stranger")
    rid = recorded["recording"]["id"]
    assert http.get(f"/v1/recordings/{rid}", headers=stranger.headers).status_code == 404
    assert http.delete(f"/v1/recordings/{rid}", headers=stranger.headers).status_code == 404


def test_delete_removes_objects_and_is_audited(http: httpx.Client, host: Account,
                                               recorded: dict, settings: Settings) -> None:
    meeting_id, rid = recorded["meeting"]["id"], recorded["recording"]["id"]
    assert http.delete(f"/v1/recordings/{rid}", headers=host.headers).status_code == 409
    http.post(f"/v1/meetings/{meeting_id}/recordings/{rid}/stop",
              headers=host.headers).raise_for_status()
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        row = recordings.get_recording(session, recording_id=uuid.UUID(rid))
        recordings.finalize_recording(session, recording=row)
    engine.dispose()
    prefix = recorded["recording"]["storage_prefix"]
    assert len(recorded["store"].list(prefix)) == recorded["chunks"]
    assert http.delete(f"/v1/recordings/{rid}", headers=host.headers).status_code == 204
    assert recorded["store"].list(prefix) == []
    assert http.get(f"/v1/recordings/{rid}", headers=host.headers).status_code == 404
    audit = http.get(f"/v1/meetings/{meeting_id}/audit", headers=host.headers).json()
    deleted = [e for e in audit if e["action"] == "recording.deleted"]
    assert deleted and deleted[0]["details"]["objects_removed"] == recorded["chunks"]


def test_ending_the_meeting_stops_and_finalizes(http: httpx.Client, host: Account,
                                                recorded: dict, settings: Settings) -> None:
    meeting_id, rid = recorded["meeting"]["id"], recorded["recording"]["id"]
    http.post(f"/v1/meetings/{meeting_id}/end", headers=host.headers).raise_for_status()
    assert http.get(f"/v1/recordings/{rid}", headers=host.headers).json()["status"] == \
        RecordingStatus.stopping
    # no recorder is running: the recording is still finalized, from its manifest
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        closed = recordings.finalize_abandoned(session)
    engine.dispose()
    assert [str(r.id) for r in closed] == [rid]
    detail = http.get(f"/v1/recordings/{rid}", headers=host.headers).json()
    assert detail["status"] == "finalized" and detail["duration_ms"] > 7000
