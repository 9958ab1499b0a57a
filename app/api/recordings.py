"""REST: start and stop recording, list recordings, their manifest, downloads, deletion."""

from __future__ import annotations

import uuid
from datetime import datetime

import anyio
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlmodel import Session, SQLModel

from app import crud, media, recordings
from app.deps import CurrentUser, SessionDep
from app.exceptions import Conflict, NotFound
from app.models import Recording, RecordingChunk, RecordingStatus, User
from app.storage import ObjectStore

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


def _announce(request: Request, meeting_id: uuid.UUID, method: str, recording: Recording
              ) -> None:
    """Tell everyone in the meeting (from a worker thread: these endpoints are sync)."""
    state = request.app.state
    anyio.from_thread.run(state.rooms.set_recording, str(meeting_id),
                          method == "RecordingStarted")
    anyio.from_thread.run(state.conference.publish, meeting_id, method,
                          {"recordingId": str(recording.id)})


@router.post("/v1/meetings/{meeting_id}/recordings", status_code=status.HTTP_201_CREATED)
def start_recording(meeting_id: uuid.UUID, request: Request, user: CurrentUser,
                    session: SessionDep) -> RecordingPublic:
    """Start recording (host or co-host); everyone gets RecordingStarted and a recorder
    joins within a second or so."""
    meeting = crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user,
                                      for_update=True)
    store = request.app.state.object_store
    recording = recordings.start_recording(session, meeting=meeting, user=user,
                                           storage_backend=store.backend,
                                           storage_bucket=store.bucket)
    crud.add_audit(session, action="recording.started", meeting_id=meeting_id,
                   actor_user_id=user.id, details={"recording_id": str(recording.id)})
    session.commit()
    _announce(request, meeting_id, "RecordingStarted", recording)
    return recording_public(recording)


@router.post("/v1/meetings/{meeting_id}/recordings/{recording_id}/stop")
def stop_recording(meeting_id: uuid.UUID, recording_id: uuid.UUID, request: Request,
                   user: CurrentUser, session: SessionDep) -> RecordingPublic:
    crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user)
    recording = _recording_of(session, meeting_id, recording_id)
    recordings.stop_recording(session, recording=recording)
    crud.add_audit(session, action="recording.stopped", meeting_id=meeting_id,
                   actor_user_id=user.id, details={"recording_id": str(recording.id)})
    session.commit()
    _announce(request, meeting_id, "RecordingStopped", recording)
    return recording_public(recording)


def _recording_of(session: Session, meeting_id: uuid.UUID, recording_id: uuid.UUID
                  ) -> Recording:
    recording = recordings.get_recording(session, recording_id=recording_id)
    if recording.meeting_id != meeting_id:
        raise NotFound(f"Recording {recording_id} not found")
    return recording


@router.get("/v1/meetings/{meeting_id}/recordings")
def list_recordings(
    meeting_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[RecordingPublic]:
    crud.get_visible_meeting(session, meeting_id=meeting_id, user=user)
    return [recording_public(r) for r in recordings.list_recordings(session, meeting_id=meeting_id)]


def _visible_recording(session: Session, recording_id: uuid.UUID, user: User) -> Recording:
    recording = recordings.get_recording(session, recording_id=recording_id)
    crud.get_visible_meeting(session, meeting_id=recording.meeting_id, user=user)
    return recording


@router.get("/v1/recordings/{recording_id}")
def get_recording(recording_id: uuid.UUID, user: CurrentUser, session: SessionDep
                  ) -> RecordingDetail:
    recording = _visible_recording(session, recording_id, user)
    manifest = recordings.manifest(session, recording_id=recording_id)
    return RecordingDetail.model_validate(recording, update={
        "tracks": [TrackPublic.model_validate(t) for t in manifest.tracks],
        "chunks": [ChunkPublic.model_validate(c) for c in manifest.chunks],
        "gaps": [GapPublic.model_validate(g) for g in manifest.gaps],
    })


@router.get("/v1/recordings/{recording_id}/chunks/{chunk_id}", response_model=None,
            responses={200: {"content": {"video/webm": {}}}, 307: {}})
def download_chunk(recording_id: uuid.UUID, chunk_id: uuid.UUID, request: Request,
                   user: CurrentUser, session: SessionDep) -> Response:
    """One chunk: a redirect to a presigned URL on S3, streamed from the local store."""
    _visible_recording(session, recording_id, user)
    chunk = session.get(RecordingChunk, chunk_id)
    if chunk is None or chunk.recording_id != recording_id or chunk.uploaded_at is None:
        raise NotFound(f"Chunk {chunk_id} not found (or not uploaded yet)")
    store: ObjectStore = request.app.state.object_store
    url = store.url_for(chunk.storage_key)
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    return StreamingResponse(store.iter_chunks(chunk.storage_key), media_type="video/webm",
                             headers={"content-length": str(chunk.size_bytes)})


@router.get("/v1/recordings/{recording_id}/tracks/{track_id}", response_model=None,
            responses={200: {"content": {"video/webm": {}}}})
def download_track(recording_id: uuid.UUID, track_id: uuid.UUID, request: Request,
                   user: CurrentUser, session: SessionDep) -> Response:
    """A whole track: its chunks joined in order by FFmpeg, without re-encoding."""
    _visible_recording(session, recording_id, user)
    chunks = [c for c in recordings.manifest(session, recording_id=recording_id).chunks
              if c.track_id == track_id and c.uploaded_at is not None]
    if not chunks:
        raise NotFound(f"Track {track_id} has no uploaded chunks")
    store: ObjectStore = request.app.state.object_store
    return StreamingResponse(media.join_chunks(store, [c.storage_key for c in chunks]),
                             media_type="video/webm")


@router.delete("/v1/recordings/{recording_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_recording(recording_id: uuid.UUID, request: Request, user: CurrentUser,
                     session: SessionDep) -> Response:
    """Delete a recording's objects and manifest (host or co-host); audited."""
    recording = recordings.get_recording(session, recording_id=recording_id)
    crud.get_hosted_meeting(session, meeting_id=recording.meeting_id, user=user)
    if recording.status in recordings.OPEN:
        raise Conflict("Stop the recording before deleting it")
    keys = recordings.mark_deleted(session, recording=recording)
    store: ObjectStore = request.app.state.object_store
    removed = store.delete_prefix(recording.storage_prefix)
    crud.add_audit(session, action="recording.deleted", meeting_id=recording.meeting_id,
                   actor_user_id=user.id,
                   details={"recording_id": str(recording_id), "chunks": len(keys),
                            "objects_removed": removed, "prefix": recording.storage_prefix})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
