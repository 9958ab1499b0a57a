"""The recordings data layer: lifecycle, consent references, idempotent manifest writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import Session

from app import crud, recordings
from app.config import Settings
from app.db import create_db_engine, session_scope
from app.exceptions import Conflict, Forbidden, IllegalTransition
from app.models import (
    ConsentAnswers,
    JoinRequest,
    Meeting,
    MeetingCreate,
    RecordingChunk,
    RecordingGap,
    RecordingStatus,
    User,
)
from tests.conftest import unique_email


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def host(session: Session) -> User:
    return crud.create_user(session, email=unique_email(), display_name="Host")


def _meeting(session: Session, host: User, **settings: object) -> Meeting:
    return crud.create_meeting(session, host=host,
                               data=MeetingCreate(title="rec", **settings))


def _join(session: Session, meeting: Meeting, name: str, recording: bool):
    return crud.join_meeting(session, meeting=meeting, user=None, client_info={},
                             request=JoinRequest(display_name=name,
                                                 consent=ConsentAnswers(recording=recording)))


def _start(session: Session, meeting: Meeting, host: User):
    return recordings.start_recording(session, meeting=meeting, user=host,
                                      storage_backend="local", storage_bucket=None)


def test_start_relies_on_consenting_participants_only(session: Session, host: User) -> None:
    meeting = _meeting(session, host, recording_enabled=True)
    yes = _join(session, meeting, "yes", True)
    _join(session, meeting, "no", False)
    recording = _start(session, meeting, host)
    consenting = recordings.recording_consent(session, meeting_id=meeting.id)
    assert set(consenting) == {yes.id}
    assert recording.consent_log_ids == [str(consenting[yes.id].id)]
    assert recording.storage_prefix == f"recordings/{meeting.id}/{recording.id}/"
    recordings.rely_on_consent(recording, list(consenting.values()))
    assert len(recording.consent_log_ids) == 1


def test_start_is_refused_when_it_should_be(session: Session, host: User) -> None:
    not_enabled = _meeting(session, host)
    _join(session, not_enabled, "a", True)
    with pytest.raises(Forbidden):
        _start(session, not_enabled, host)
    meeting = _meeting(session, host, recording_enabled=True)
    with pytest.raises(Conflict):  # nobody has joined yet
        _start(session, meeting, host)
    _join(session, meeting, "a", True)
    _start(session, meeting, host)
    with pytest.raises(Conflict):
        _start(session, meeting, host)


def test_lifecycle_and_finalize_from_manifest(session: Session, host: User) -> None:
    meeting = _meeting(session, host, recording_enabled=True)
    participant = _join(session, meeting, "a", True)
    recording = _start(session, meeting, host)
    track = recordings.add_track(session, recording=recording, participant_id=participant.id,
                                 kind="audio", codec="opus")
    for seq, start in enumerate((0, 10_000, 25_000)):
        recordings.add_chunk(session, chunk=RecordingChunk(
            recording_id=recording.id, track_id=track.id, participant_id=participant.id,
            kind="audio", seq=seq, start_ms=start, duration_ms=10_000, size_bytes=1000,
            sha256="0" * 64, storage_key=f"{recording.storage_prefix}{track.id}/{seq:06d}.webm"))
    # the same chunk again (a retried upload) updates the row, never adds one
    recordings.add_chunk(session, chunk=RecordingChunk(
        recording_id=recording.id, track_id=track.id, participant_id=participant.id,
        kind="audio", seq=2, start_ms=25_000, duration_ms=10_000, size_bytes=1200,
        sha256="1" * 64, storage_key=f"{recording.storage_prefix}{track.id}/000002.webm"))
    recordings.add_gap(session, gap=RecordingGap(recording_id=recording.id, track_id=track.id,
                                                 start_ms=20_000, end_ms=25_000, reason="mute"))
    manifest = recordings.manifest(session, recording_id=recording.id)
    assert [c.seq for c in manifest.chunks] == [0, 1, 2]
    assert manifest.chunks[2].size_bytes == 1200 and len(manifest.gaps) == 1

    recordings.stop_recording(session, recording=recording)
    with pytest.raises(Conflict):
        recordings.stop_recording(session, recording=recording)
    recordings.finalize_recording(session, recording=recording)
    assert recording.status == RecordingStatus.finalized
    assert recording.duration_ms == 35_000 and recording.size_bytes == 3200
    with pytest.raises(IllegalTransition):
        recordings.transition(recording, RecordingStatus.recording)

    keys = recordings.mark_deleted(session, recording=recording)
    assert len(keys) == 3
    assert recordings.manifest(session, recording_id=recording.id).chunks == []


def test_recordings_of_ended_meetings_do_not_stay_open(session: Session, host: User) -> None:
    meeting = _meeting(session, host, recording_enabled=True)
    _join(session, meeting, "a", True)
    recording = _start(session, meeting, host)
    other = _meeting(session, host, recording_enabled=True)
    _join(session, other, "b", True)
    still_live = _start(session, other, host)
    crud.end_meeting(session, meeting=meeting)
    closed = recordings.finalize_abandoned(session)
    assert [r.id for r in closed] == [recording.id]
    assert recording.status == RecordingStatus.finalized
    assert still_live.status == RecordingStatus.recording
    assert recordings.get_recording(session, recording_id=recording.id) is recording
    assert uuid.UUID(str(recording.id))
