"""Recordings: their lifecycle, the consent they rely on, and their chunk manifest.

Plain functions with keyword-only arguments over one session, like ``app.crud``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, func, select

from app import crud
from app.exceptions import Conflict, Forbidden, IllegalTransition, MeetingEnded, NotFound
from app.models import (
    ConsentLog,
    ConsentType,
    Meeting,
    MeetingStatus,
    Participant,
    Recording,
    RecordingChunk,
    RecordingGap,
    RecordingStatus,
    RecordingTrack,
    User,
    utcnow,
)

_TRANSITIONS: dict[RecordingStatus, frozenset[RecordingStatus]] = {
    RecordingStatus.recording: frozenset({RecordingStatus.stopping, RecordingStatus.finalized,
                                          RecordingStatus.failed, RecordingStatus.deleted}),
    RecordingStatus.stopping: frozenset({RecordingStatus.finalized, RecordingStatus.failed,
                                         RecordingStatus.deleted}),
    RecordingStatus.finalized: frozenset({RecordingStatus.deleted}),
    RecordingStatus.failed: frozenset({RecordingStatus.deleted}),
    RecordingStatus.deleted: frozenset(),
}
OPEN = (RecordingStatus.recording, RecordingStatus.stopping)


def transition(recording: Recording, to: RecordingStatus) -> None:
    """Move a recording to ``to``, refusing what its lifecycle does not allow."""
    if to not in _TRANSITIONS[RecordingStatus(recording.status)]:
        raise IllegalTransition(f"A recording cannot go from {recording.status} to {to}")
    recording.status = to
    recording.updated_at = utcnow()


# --------------------------------------------------------------------------- consent


def recording_consent(
    session: Session, *, meeting_id: uuid.UUID
) -> dict[uuid.UUID, ConsentLog]:
    """Present participants whose latest recording answer is yes, with that record."""
    present = session.exec(
        select(Participant.id).where(
            Participant.meeting_id == meeting_id, col(Participant.left_at).is_(None)
        )
    ).all()
    consenting = {}
    for participant_id in present:
        latest = crud.latest_consent(session, participant_id=participant_id)
        record = latest.get(ConsentType.recording)
        if record is not None and record.accepted:
            consenting[participant_id] = record
    return consenting


def rely_on_consent(recording: Recording, records: Sequence[ConsentLog]) -> None:
    """Name, on the recording, the consent records it relied on (each once)."""
    known = set(recording.consent_log_ids)
    added = [str(record.id) for record in records if str(record.id) not in known]
    if added:
        recording.consent_log_ids = [*recording.consent_log_ids, *added]


# --------------------------------------------------------------------------- lifecycle


def active_recording(session: Session, *, meeting_id: uuid.UUID) -> Recording | None:
    return session.exec(
        select(Recording).where(
            Recording.meeting_id == meeting_id, col(Recording.status).in_(OPEN)
        )
    ).first()


def start_recording(
    session: Session,
    *,
    meeting: Meeting,
    user: User | None,
    storage_backend: str,
    storage_bucket: str | None,
) -> Recording:
    if meeting.status in (MeetingStatus.ended, MeetingStatus.cancelled):
        raise MeetingEnded("The meeting has ended")
    if meeting.status != MeetingStatus.active:
        raise Conflict("Recording starts once someone has joined the meeting")
    if not (meeting.recording_enabled or meeting.auto_record):
        raise Forbidden("Recording is not enabled for this meeting")
    if active_recording(session, meeting_id=meeting.id) is not None:
        raise Conflict("This meeting is already being recorded")
    recording_id = uuid.uuid4()
    recording = Recording(
        id=recording_id,
        meeting_id=meeting.id,
        started_by_user_id=user.id if user else None,
        storage_backend=storage_backend,
        storage_bucket=storage_bucket,
        storage_prefix=f"recordings/{meeting.id}/{recording_id}/",
    )
    rely_on_consent(recording, list(recording_consent(session, meeting_id=meeting.id).values()))
    session.add(recording)
    session.flush()
    return recording


def stop_recording(session: Session, *, recording: Recording) -> Recording:
    """Ask for the recording to end; the recorder finalizes it once its chunks are stored."""
    if recording.status != RecordingStatus.recording:
        raise Conflict(f"The recording is {recording.status}, not recording")
    transition(recording, RecordingStatus.stopping)
    recording.ended_at = utcnow()
    session.add(recording)
    return recording


def finalize_recording(session: Session, *, recording: Recording) -> Recording:
    """Close a recording: its duration and size come from the manifest."""
    if recording.status == RecordingStatus.finalized:
        return recording
    transition(recording, RecordingStatus.finalized)
    recording.ended_at = recording.ended_at or utcnow()
    span, size = session.exec(
        select(
            func.max(RecordingChunk.start_ms + RecordingChunk.duration_ms)
            - func.min(RecordingChunk.start_ms),
            func.sum(RecordingChunk.size_bytes),
        ).where(RecordingChunk.recording_id == recording.id)
    ).one()
    recording.duration_ms = int(span) if span is not None else 0
    recording.size_bytes = int(size) if size is not None else 0
    session.add(recording)
    return recording


def finalize_abandoned(session: Session, *, meeting_id: uuid.UUID | None = None) -> list[Recording]:
    """Finalize recordings left open by meetings that have ended (e.g. the recorder crashed)."""
    statement = (
        select(Recording)
        .join(Meeting, col(Meeting.id) == col(Recording.meeting_id))
        .where(col(Recording.status).in_(OPEN),
               col(Meeting.status).in_((MeetingStatus.ended, MeetingStatus.cancelled)))
    )
    if meeting_id is not None:
        statement = statement.where(Recording.meeting_id == meeting_id)
    closed = [finalize_recording(session, recording=r) for r in session.exec(statement).all()]
    return closed


# --------------------------------------------------------------------------- lookups


def get_recording(session: Session, *, recording_id: uuid.UUID) -> Recording:
    recording = session.get(Recording, recording_id)
    if recording is None or recording.status == RecordingStatus.deleted:
        raise NotFound(f"Recording {recording_id} not found")
    return recording


def list_recordings(session: Session, *, meeting_id: uuid.UUID) -> Sequence[Recording]:
    return session.exec(
        select(Recording)
        .where(Recording.meeting_id == meeting_id, Recording.status != RecordingStatus.deleted)
        .order_by(col(Recording.started_at))
    ).all()


@dataclass(frozen=True, slots=True)
class Manifest:
    tracks: Sequence[RecordingTrack]
    chunks: Sequence[RecordingChunk]
    gaps: Sequence[RecordingGap]


def manifest(session: Session, *, recording_id: uuid.UUID) -> Manifest:
    return Manifest(
        tracks=session.exec(
            select(RecordingTrack)
            .where(RecordingTrack.recording_id == recording_id)
            .order_by(col(RecordingTrack.created_at))
        ).all(),
        chunks=session.exec(
            select(RecordingChunk)
            .where(RecordingChunk.recording_id == recording_id)
            .order_by(col(RecordingChunk.track_id), col(RecordingChunk.seq))
        ).all(),
        gaps=session.exec(
            select(RecordingGap)
            .where(RecordingGap.recording_id == recording_id)
            .order_by(col(RecordingGap.track_id), col(RecordingGap.start_ms))
        ).all(),
    )


# --------------------------------------------------------------------------- manifest writes


def add_track(
    session: Session, *, recording: Recording, participant_id: uuid.UUID, kind: str, codec: str,
    track_id: uuid.UUID | None = None,
) -> RecordingTrack:
    """Register a track; with ``track_id`` the call is idempotent."""
    if track_id is not None and (existing := session.get(RecordingTrack, track_id)):
        return existing
    track = RecordingTrack(id=track_id or uuid.uuid4(), recording_id=recording.id,
                           participant_id=participant_id, kind=kind, codec=codec)
    session.add(track)
    session.flush()
    return track


def add_chunk(session: Session, *, chunk: RecordingChunk) -> RecordingChunk:
    """Add a chunk to the manifest; the same (track, seq) again updates it, never duplicates."""
    existing = session.exec(
        select(RecordingChunk).where(
            RecordingChunk.track_id == chunk.track_id, RecordingChunk.seq == chunk.seq
        )
    ).first()
    if existing is None:
        session.add(chunk)
        session.flush()
        return chunk
    for name in ("start_ms", "duration_ms", "size_bytes", "sha256", "storage_key",
                 "uploaded_at"):
        value = getattr(chunk, name)
        if value is not None:
            setattr(existing, name, value)
    session.add(existing)
    return existing


def add_gap(session: Session, *, gap: RecordingGap) -> RecordingGap:
    session.add(gap)
    session.flush()
    return gap


def mark_deleted(session: Session, *, recording: Recording) -> list[str]:
    """Mark a recording deleted and drop its manifest; return the storage keys to remove."""
    keys = [chunk.storage_key for chunk in manifest(session, recording_id=recording.id).chunks]
    transition(recording, RecordingStatus.deleted)
    for model in (RecordingChunk, RecordingGap, RecordingTrack):
        for row in session.exec(select(model).where(model.recording_id == recording.id)):
            session.delete(row)
    session.add(recording)
    return keys


# --------------------------------------------------------------------------- recorders


def stop_open(session: Session, *, meeting_id: uuid.UUID) -> list[Recording]:
    """The meeting ended: every recording still running goes to ``stopping``."""
    stopped = []
    for recording in session.exec(
        select(Recording).where(Recording.meeting_id == meeting_id,
                                Recording.status == RecordingStatus.recording)
    ):
        stop_recording(session, recording=recording)
        stopped.append(recording)
    return stopped


def claim(session: Session, *, recording_id: uuid.UUID, recorder_id: str,
          lease_seconds: float) -> bool:
    """Take (or renew) the lease on a recording; False if another recorder holds it."""
    now = utcnow()
    table = Recording.__table__  # type: ignore[attr-defined]
    result = session.execute(
        table.update()
        .where(table.c.id == recording_id,
               table.c.status.in_([s.value for s in OPEN]),
               (table.c.recorder_id.is_(None)) | (table.c.recorder_id == recorder_id)
               | (table.c.lease_until < now))
        .values(recorder_id=recorder_id, lease_until=now + timedelta(seconds=lease_seconds))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, *, recording_id: uuid.UUID, recorder_id: str) -> None:
    recording = session.get(Recording, recording_id)
    if recording is not None and recording.recorder_id == recorder_id:
        recording.recorder_id = None
        recording.lease_until = None
        session.add(recording)


def open_recordings(session: Session) -> Sequence[Recording]:
    return session.exec(select(Recording).where(col(Recording.status).in_(OPEN))).all()


def track_progress(session: Session, *, track_id: uuid.UUID) -> tuple[int, int | None]:
    """The next chunk number of a track, and where its last chunk ended (meeting ms)."""
    last = session.exec(
        select(RecordingChunk)
        .where(RecordingChunk.track_id == track_id)
        .order_by(col(RecordingChunk.seq).desc())
    ).first()
    if last is None:
        return 0, None
    return last.seq + 1, last.start_ms + last.duration_ms


def mark_uploaded(session: Session, *, track_id: uuid.UUID, seq: int) -> None:
    chunk = session.exec(
        select(RecordingChunk).where(RecordingChunk.track_id == track_id,
                                     RecordingChunk.seq == seq)
    ).first()
    if chunk is not None and chunk.uploaded_at is None:
        chunk.uploaded_at = utcnow()
        session.add(chunk)
