"""REST: start and stop recording, list recordings, their manifest, downloads, deletion."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from sqlmodel import SQLModel

from app import crud, recordings
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.models import Recording, RecordingStatus

router = APIRouter(tags=["recordings"])


class TrackPublic(SQLModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    kind: str
    codec: str


class ChunkPublic(SQLModel):
    id: uuid.UUID
    track_id: uuid.UUID
    participant_id: uuid.UUID
    kind: str
    seq: int
    start_ms: int
    duration_ms: int
    size_bytes: int
    sha256: str
    storage_key: str
    uploaded_at: datetime | None


class GapPublic(SQLModel):
    track_id: uuid.UUID
    start_ms: int
    end_ms: int
    reason: str


class RecordingPublic(SQLModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    status: RecordingStatus
    storage_backend: str
    storage_prefix: str
    consent_log_ids: list[uuid.UUID]
    duration_ms: int | None
    size_bytes: int | None
    started_at: datetime
    ended_at: datetime | None


class RecordingDetail(RecordingPublic):
    tracks: list[TrackPublic]
    chunks: list[ChunkPublic]
    gaps: list[GapPublic]


def recording_public(recording: Recording) -> RecordingPublic:
    return RecordingPublic.model_validate(recording)


async def _announce(request: Request, meeting_id: uuid.UUID, method: str,
                    recording: Recording) -> None:
    conference = getattr(request.app.state, "conference", None)
    if conference is not None:
        await conference.publish(meeting_id, method, {"recordingId": str(recording.id)})


@router.post("/v1/meetings/{meeting_id}/recordings", status_code=status.HTTP_201_CREATED)
async def start_recording(
    meeting_id: uuid.UUID, request: Request, user: CurrentUser, settings: SettingsDep
) -> RecordingPublic:
    """Start recording (host or co-host). Everyone in the meeting gets RecordingStarted."""
    recording = await request.app.state.recorders.start(meeting_id=meeting_id, user=user)
    await _announce(request, meeting_id, "RecordingStarted", recording)
    return recording_public(recording)


@router.post("/v1/meetings/{meeting_id}/recordings/{recording_id}/stop")
async def stop_recording(
    meeting_id: uuid.UUID, recording_id: uuid.UUID, request: Request, user: CurrentUser
) -> RecordingPublic:
    recording = await request.app.state.recorders.stop(
        meeting_id=meeting_id, recording_id=recording_id, user=user)
    await _announce(request, meeting_id, "RecordingStopped", recording)
    return recording_public(recording)


@router.get("/v1/meetings/{meeting_id}/recordings")
def list_recordings(
    meeting_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[RecordingPublic]:
    crud.get_visible_meeting(session, meeting_id=meeting_id, user=user)
    return [recording_public(r) for r in recordings.list_recordings(session, meeting_id=meeting_id)]


@router.get("/v1/recordings/{recording_id}")
def get_recording(recording_id: uuid.UUID, user: CurrentUser, session: SessionDep
                  ) -> RecordingDetail:
    recording = recordings.get_recording(session, recording_id=recording_id)
    crud.get_visible_meeting(session, meeting_id=recording.meeting_id, user=user)
    manifest = recordings.manifest(session, recording_id=recording_id)
    return RecordingDetail.model_validate(recording, update={
        "tracks": [TrackPublic.model_validate(t) for t in manifest.tracks],
        "chunks": [ChunkPublic.model_validate(c) for c in manifest.chunks],
        "gaps": [GapPublic.model_validate(g) for g in manifest.gaps],
    })


@router.delete("/v1/recordings/{recording_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_recording(recording_id: uuid.UUID, request: Request, user: CurrentUser
                           ) -> Response:
    """Delete a recording's objects and manifest (host or co-host); the audit trail says so."""
    await request.app.state.recorders.delete(recording_id=recording_id, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
