"""REST: a meeting's transcript in four formats, and search across a user's meetings."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response
from sqlmodel import Session, SQLModel

from app import crud, transcripts
from app.deps import CurrentUser, PrincipalDep, SessionDep
from app.exceptions import NotFound, Unauthenticated

router = APIRouter(tags=["transcripts"])

MEDIA_TYPES = {"vtt": "text/vtt", "srt": "application/x-subrip", "txt": "text/plain"}
RENDERERS = {"vtt": transcripts.to_vtt, "srt": transcripts.to_srt, "txt": transcripts.to_text}


class SegmentPublic(SQLModel):
    id: str
    participant_id: uuid.UUID | None
    speaker_name: str
    start_ms: int
    end_ms: int
    text: str
    source: str


class TranscriptPublic(SQLModel):
    meeting_id: uuid.UUID
    segments: list[SegmentPublic]


def _check_reader(session: Session, principal: PrincipalDep, meeting_id: uuid.UUID) -> None:
    """Users who can see the meeting, and its participants (by join token), may read it."""
    if principal is None:
        raise Unauthenticated("An API key, bearer token or join token is required")
    if principal.user is not None:
        crud.get_visible_meeting(session, meeting_id=meeting_id, user=principal.user)
        return
    if principal.claims is None or principal.claims.meeting_id != meeting_id:
        raise NotFound(f"Meeting {meeting_id} not found")


@router.get(
    "/v1/meetings/{meeting_id}/transcript",
    response_model=TranscriptPublic,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def get_transcript(
    meeting_id: uuid.UUID,
    principal: PrincipalDep,
    session: SessionDep,
    format: Literal["json", "vtt", "srt", "txt"] = "json",
) -> TranscriptPublic | Response:
    _check_reader(session, principal, meeting_id)
    segments = transcripts.list_segments(session, meeting_id=meeting_id)
    if format == "json":
        return TranscriptPublic(
            meeting_id=meeting_id,
            segments=[SegmentPublic.model_validate(segment) for segment in segments],
        )
    return PlainTextResponse(RENDERERS[format](segments), media_type=MEDIA_TYPES[format])


@router.get("/v1/transcripts/search")
def search_transcripts(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[transcripts.SearchHit]:
    return transcripts.search(session, user=user, query=q, limit=limit)
