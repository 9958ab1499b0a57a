"""REST: meetings, joining, leaving, participants, consent and the audit trail."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, Response, status
from sqlmodel import Session, SQLModel

from app import crud, recordings
from app.config import Settings
from app.deps import CurrentUser, JoinClaimsDep, OptionalUser, SessionDep, SettingsDep
from app.exceptions import Forbidden, MeetingEnded
from app.models import (
    AuditEventPublic,
    ConsentAnswers,
    ConsentLogPublic,
    ConsentType,
    IceServer,
    JoinRequest,
    JoinResponse,
    Meeting,
    MeetingCreate,
    MeetingPage,
    MeetingPublic,
    MeetingStatus,
    MeetingUpdate,
    ParticipantPublic,
)
from app.security import issue_join_token, turn_credentials

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])


def meeting_public(meeting: Meeting) -> MeetingPublic:
    return MeetingPublic.model_validate(
        meeting,
        update={
            "has_password": meeting.password_hash is not None,
            "required_consent": crud.required_consent(meeting),
            "co_host_user_ids": [uuid.UUID(uid) for uid in meeting.co_host_user_ids],
        },
    )


def client_info(request: Request) -> dict[str, Any]:
    return {
        "user_agent": request.headers.get("user-agent"),
        "ip": request.client.host if request.client else None,
    }


@router.post("", status_code=status.HTTP_201_CREATED)
def create_meeting(data: MeetingCreate, user: CurrentUser, session: SessionDep) -> MeetingPublic:
    meeting = crud.create_meeting(session, host=user, data=data)
    crud.add_audit(session, action="meeting.created", meeting_id=meeting.id,
                   actor_user_id=user.id, details={"title": meeting.title})
    return meeting_public(meeting)


@router.get("")
def list_meetings(
    user: CurrentUser,
    session: SessionDep,
    status: MeetingStatus | None = None,
    host_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MeetingPage:
    items, total = crud.list_meetings(
        session, user=user, status=status, host_id=host_id, limit=limit, offset=offset
    )
    return MeetingPage(items=[meeting_public(m) for m in items], total=total, limit=limit,
                       offset=offset)


@router.get("/{meeting_id}")
def get_meeting(meeting_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> MeetingPublic:
    return meeting_public(crud.get_visible_meeting(session, meeting_id=meeting_id, user=user))


class MeetingLobby(SQLModel):
    """What the meeting page shows before someone joins: no secrets, no participants."""

    id: uuid.UUID
    title: str
    status: MeetingStatus
    has_password: bool
    allow_guests: bool
    required_consent: list[ConsentType]


@router.get("/{meeting_id}/lobby")
def get_lobby(meeting_id: uuid.UUID, session: SessionDep) -> MeetingLobby:
    meeting = crud.get_meeting(session, meeting_id=meeting_id)
    return MeetingLobby(
        id=meeting.id,
        title=meeting.title,
        status=meeting.status,
        has_password=meeting.password_hash is not None,
        allow_guests=meeting.allow_guests,
        required_consent=crud.required_consent(meeting),
    )


@router.patch("/{meeting_id}")
def update_meeting(
    meeting_id: uuid.UUID, data: MeetingUpdate, user: CurrentUser, session: SessionDep
) -> MeetingPublic:
    meeting = crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user)
    crud.update_meeting(session, meeting=meeting, data=data)
    crud.add_audit(session, action="meeting.updated", meeting_id=meeting.id,
                   actor_user_id=user.id,
                   details={"fields": sorted(data.model_dump(exclude_unset=True))})
    return meeting_public(meeting)


@router.put("/{meeting_id}/end", operation_id="end_meeting_put")
@router.post("/{meeting_id}/end")
def end_meeting(meeting_id: uuid.UUID, request: Request, user: CurrentUser,
                session: SessionDep) -> MeetingPublic:
    meeting = crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user, for_update=True)
    if meeting.status in (MeetingStatus.ended, MeetingStatus.cancelled):
        raise MeetingEnded(f"Meeting {meeting_id} has already {meeting.status}")
    crud.end_meeting(session, meeting=meeting)
    recordings.stop_open(session, meeting_id=meeting.id)
    crud.add_audit(session, action="meeting.ended", meeting_id=meeting.id, actor_user_id=user.id)
    session.commit()
    anyio.from_thread.run(request.app.state.conference.end_meeting, meeting.id)
    return meeting_public(meeting)


@router.delete("/{meeting_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_meeting(meeting_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    meeting = crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user)
    crud.delete_meeting(session, meeting=meeting)
    crud.add_audit(session, action="meeting.deleted", actor_user_id=user.id,
                   details={"meeting_id": str(meeting_id), "title": meeting.title})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- joining


def ice_servers(settings: Settings, *, participant_id: uuid.UUID) -> list[IceServer]:
    servers = [IceServer(urls=list(settings.stun_urls))] if settings.stun_urls else []
    if settings.turn_urls:
        username, credential = turn_credentials(settings, username=str(participant_id))
        servers.append(IceServer(urls=list(settings.turn_urls), username=username,
                                 credential=credential))
    return servers


@router.post("/{meeting_id}/join")
def join_meeting(
    meeting_id: uuid.UUID,
    data: JoinRequest,
    request: Request,
    user: OptionalUser,
    session: SessionDep,
    settings: SettingsDep,
) -> JoinResponse:
    meeting = crud.get_meeting(session, meeting_id=meeting_id, for_update=True)
    participant = crud.join_meeting(
        session, meeting=meeting, user=user, request=data, client_info=client_info(request)
    )
    if meeting.auto_record and recordings.active_recording(session, meeting_id=meeting.id
                                                            ) is None:
        _auto_record(request, session, meeting)
    crud.add_audit(session, action="participant.joined", meeting_id=meeting.id,
                   actor_user_id=user.id if user else None,
                   actor_participant_id=participant.id,
                   details={"role": participant.role, "display_name": participant.display_name,
                            "consent": {k.value: v for k, v in data.consent.answered().items()}})
    token, expires_at = issue_join_token(
        settings,
        meeting_id=meeting.id,
        participant_id=participant.id,
        user_id=participant.user_id,
        role=participant.role,
        display_name=participant.display_name,
    )
    base = settings.public_url or str(request.base_url)
    signal_url = base.replace("http", "ws", 1).rstrip("/") + "/v1/signal"
    return JoinResponse(
        token=token,
        expires_at=expires_at,
        participant=ParticipantPublic.model_validate(participant),
        ice_servers=ice_servers(settings, participant_id=participant.id),
        signal_url=signal_url,
    )


def _auto_record(request: Request, session: Session, meeting: Meeting) -> None:
    store = request.app.state.object_store
    recording = recordings.start_recording(session, meeting=meeting, user=None,
                                           storage_backend=store.backend,
                                           storage_bucket=store.bucket)
    crud.add_audit(session, action="recording.started", meeting_id=meeting.id,
                   details={"recording_id": str(recording.id), "auto": True})
    session.commit()
    anyio.from_thread.run(request.app.state.rooms.set_recording, str(meeting.id), True)
    anyio.from_thread.run(request.app.state.conference.publish, meeting.id,
                          "RecordingStarted", {"recordingId": str(recording.id)})


def _own_meeting(claims: JoinClaimsDep, meeting_id: uuid.UUID) -> None:
    if claims.meeting_id != meeting_id:
        raise Forbidden("The join token is for another meeting")


@router.post("/{meeting_id}/leave", status_code=status.HTTP_204_NO_CONTENT)
def leave_meeting(meeting_id: uuid.UUID, claims: JoinClaimsDep, session: SessionDep) -> Response:
    _own_meeting(claims, meeting_id)
    participant = crud.get_participant(session, participant_id=claims.participant_id,
                                       meeting_id=meeting_id)
    if crud.leave_meeting(session, participant=participant):
        crud.add_audit(session, action="participant.left", meeting_id=meeting_id,
                       actor_user_id=claims.user_id, actor_participant_id=participant.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{meeting_id}/participants")
def list_participants(
    meeting_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[ParticipantPublic]:
    crud.get_visible_meeting(session, meeting_id=meeting_id, user=user)
    return [ParticipantPublic.model_validate(p)
            for p in crud.list_participants(session, meeting_id=meeting_id)]


# --------------------------------------------------------------------------- consent


@router.post("/{meeting_id}/consent", status_code=status.HTTP_201_CREATED)
def record_consent(
    meeting_id: uuid.UUID,
    answers: ConsentAnswers,
    request: Request,
    claims: JoinClaimsDep,
    session: SessionDep,
) -> list[ConsentLogPublic]:
    """Give or withdraw consent during a meeting; each answer is a new, permanent record."""
    _own_meeting(claims, meeting_id)
    participant = crud.get_participant(session, participant_id=claims.participant_id,
                                       meeting_id=meeting_id)
    rows = crud.record_consent(session, participant=participant, answers=answers,
                               client_info=client_info(request))
    crud.add_audit(session, action="consent.recorded", meeting_id=meeting_id,
                   actor_user_id=claims.user_id, actor_participant_id=participant.id,
                   details={row.consent_type: row.accepted for row in rows})
    session.commit()
    anyio.from_thread.run(request.app.state.conference.publish, meeting_id, "ConsentChanged",
                          {"participantId": str(participant.id),
                           "consent": {row.consent_type: row.accepted for row in rows}})
    return [ConsentLogPublic.model_validate(row) for row in rows]


@router.get("/{meeting_id}/consent")
def list_consent(
    meeting_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[ConsentLogPublic]:
    crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user)
    return [ConsentLogPublic.model_validate(row)
            for row in crud.list_consent(session, meeting_id=meeting_id)]


@router.get("/{meeting_id}/audit")
def list_audit(
    meeting_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditEventPublic]:
    crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user)
    return [AuditEventPublic.model_validate(event)
            for event in crud.list_audit(session, meeting_id=meeting_id, limit=limit,
                                         offset=offset)]


@router.get("/{meeting_id}/quality")
def get_quality(meeting_id: uuid.UUID, request: Request, user: CurrentUser,
                session: SessionDep) -> dict[str, Any]:
    """Connection quality per participant from the SFU's RTCP bookkeeping (host only)."""
    crud.get_hosted_meeting(session, meeting_id=meeting_id, user=user)
    quality: dict[str, Any] = request.app.state.sfu.quality(meeting_id)
    return quality
