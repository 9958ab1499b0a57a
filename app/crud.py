"""Data access: plain functions with keyword-only arguments, one session passed in.

They raise the errors of ``app.exceptions``; callers decide how to present them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.exceptions import (
    BadRequest,
    ConsentRequired,
    Forbidden,
    IllegalTransition,
    MeetingEnded,
    MeetingFull,
    NotFound,
    WrongPassword,
)
from app.models import (
    ApiKey,
    AuditEvent,
    ConnectionState,
    ConsentAnswers,
    ConsentLog,
    ConsentType,
    JoinRequest,
    Meeting,
    MeetingCreate,
    MeetingSession,
    MeetingStatus,
    MeetingUpdate,
    Participant,
    Role,
    User,
    utcnow,
)
from app.security import hash_api_key, hash_password, new_api_key, verify_password

# --------------------------------------------------------------------------- users


def create_user(
    session: Session, *, email: str, display_name: str, tenant_id: uuid.UUID | None = None
) -> User:
    user = User(email=email.lower(), display_name=display_name)
    if tenant_id is not None:
        user.tenant_id = tenant_id
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.lower())).first()


def create_api_key(session: Session, *, user: User, name: str = "default") -> tuple[ApiKey, str]:
    """Store a new key's hash; the plain key is returned once and never stored."""
    plain = new_api_key()
    key = ApiKey(user_id=user.id, name=name, prefix=plain[:8], key_hash=hash_api_key(plain))
    session.add(key)
    session.flush()
    return key, plain


def get_user_by_api_key(session: Session, *, key: str) -> User | None:
    row = session.exec(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), col(ApiKey.revoked_at).is_(None))
    ).first()
    if row is None:
        return None
    row.last_used_at = utcnow()
    session.add(row)
    return session.get(User, row.user_id)


def get_or_create_external_user(
    session: Session, *, subject: str, email: str | None, name: str | None
) -> User:
    user = session.exec(select(User).where(User.external_subject == subject)).first()
    if user is not None:
        return user
    user = User(
        email=(email or f"{uuid.uuid5(uuid.NAMESPACE_URL, subject)}@oidc.invalid").lower(),
        display_name=name or email or subject,
        external_subject=subject,
    )
    session.add(user)
    session.flush()
    return user


# --------------------------------------------------------------------------- meetings

_MEETING_TRANSITIONS: dict[MeetingStatus, frozenset[MeetingStatus]] = {
    MeetingStatus.scheduled: frozenset({MeetingStatus.active, MeetingStatus.ended,
                                        MeetingStatus.cancelled}),
    MeetingStatus.active: frozenset({MeetingStatus.ended}),
    MeetingStatus.ended: frozenset(),
    MeetingStatus.cancelled: frozenset(),
}


def transition_meeting(meeting: Meeting, to: MeetingStatus) -> None:
    """Move a meeting to ``to``, refusing transitions the lifecycle does not allow."""
    if to not in _MEETING_TRANSITIONS[meeting.status]:
        raise IllegalTransition(f"A meeting cannot go from {meeting.status} to {to}")
    meeting.status = to
    meeting.updated_at = utcnow()


def create_meeting(session: Session, *, host: User, data: MeetingCreate) -> Meeting:
    fields = data.model_dump(exclude={"password", "co_host_user_ids"})
    meeting = Meeting(
        **fields,
        host_user_id=host.id,
        password_hash=hash_password(data.password) if data.password else None,
        co_host_user_ids=[str(uid) for uid in data.co_host_user_ids],
    )
    session.add(meeting)
    session.flush()
    return meeting


def get_meeting(session: Session, *, meeting_id: uuid.UUID, for_update: bool = False) -> Meeting:
    statement = select(Meeting).where(Meeting.id == meeting_id)
    if for_update:
        statement = statement.with_for_update()
    meeting = session.exec(statement).first()
    if meeting is None:
        raise NotFound(f"Meeting {meeting_id} not found")
    return meeting


def is_host(meeting: Meeting, user: User | None) -> bool:
    """The host or a co-host."""
    if user is None:
        return False
    return user.id == meeting.host_user_id or str(user.id) in meeting.co_host_user_ids


def visible_condition(user: User) -> Any:
    """A SQL condition true for the meetings a user hosts, co-hosts or took part in."""
    took_part = select(Participant.meeting_id).where(Participant.user_id == user.id)
    return sa.or_(
        col(Meeting.host_user_id) == user.id,
        col(Meeting.id).in_(took_part),
        sa.cast(col(Meeting.co_host_user_ids), sa.String).contains(str(user.id)),
    )


def get_visible_meeting(
    session: Session, *, meeting_id: uuid.UUID, user: User, for_update: bool = False
) -> Meeting:
    """A meeting the user hosts or took part in; others get NotFound, never Forbidden."""
    meeting = get_meeting(session, meeting_id=meeting_id, for_update=for_update)
    if is_host(meeting, user):
        return meeting
    took_part = session.exec(
        select(Participant.id).where(
            Participant.meeting_id == meeting_id, Participant.user_id == user.id
        )
    ).first()
    if took_part is None:
        raise NotFound(f"Meeting {meeting_id} not found")
    return meeting


def get_hosted_meeting(
    session: Session, *, meeting_id: uuid.UUID, user: User, for_update: bool = False
) -> Meeting:
    """A meeting the user may change: hosts and co-hosts only."""
    meeting = get_visible_meeting(
        session, meeting_id=meeting_id, user=user, for_update=for_update
    )
    if not is_host(meeting, user):
        raise Forbidden("Only the host or a co-host may do this")
    return meeting


def list_meetings(
    session: Session,
    *,
    user: User,
    status: MeetingStatus | None = None,
    host_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Meeting], int]:
    conditions = [visible_condition(user)]
    if status is not None:
        conditions.append(col(Meeting.status) == status)
    if host_id is not None:
        conditions.append(col(Meeting.host_user_id) == host_id)
    total = session.exec(select(func.count()).select_from(Meeting).where(*conditions)).one()
    items = session.exec(
        select(Meeting)
        .where(*conditions)
        .order_by(col(Meeting.created_at).desc(), col(Meeting.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return items, total


def update_meeting(session: Session, *, meeting: Meeting, data: MeetingUpdate) -> Meeting:
    if meeting.status in (MeetingStatus.ended, MeetingStatus.cancelled):
        raise MeetingEnded("An ended meeting cannot be changed")
    changes = data.model_dump(exclude_unset=True, exclude={"password", "clear_password",
                                                           "co_host_user_ids"})
    for name, value in changes.items():
        setattr(meeting, name, value)
    if data.password:
        meeting.password_hash = hash_password(data.password)
    elif data.clear_password:
        meeting.password_hash = None
    if data.co_host_user_ids is not None:
        meeting.co_host_user_ids = [str(uid) for uid in data.co_host_user_ids]
    meeting.updated_at = utcnow()
    session.add(meeting)
    return meeting


def end_meeting(session: Session, *, meeting: Meeting) -> Meeting:
    """End a meeting: close its session and mark everyone still in it as gone."""
    now = utcnow()
    transition_meeting(meeting, MeetingStatus.ended)
    meeting.actual_end = now
    session.add(meeting)
    for run in session.exec(
        select(MeetingSession).where(
            MeetingSession.meeting_id == meeting.id, col(MeetingSession.ended_at).is_(None)
        )
    ):
        run.ended_at = now
        session.add(run)
    for participant in _present(session, meeting_id=meeting.id):
        _mark_left(participant, now)
        session.add(participant)
    return meeting


def delete_meeting(session: Session, *, meeting: Meeting) -> None:
    session.delete(meeting)


# --------------------------------------------------------------------------- joining


def required_consent(meeting: Meeting) -> list[ConsentType]:
    """The consent questions a meeting asks of whoever joins."""
    wanted = []
    if meeting.recording_enabled or meeting.auto_record:
        wanted.append(ConsentType.recording)
    if meeting.transcription_enabled:
        wanted.append(ConsentType.transcription)
    if meeting.ai_summary_enabled:
        wanted.append(ConsentType.ai)
    return wanted


def _present(session: Session, *, meeting_id: uuid.UUID) -> Sequence[Participant]:
    return session.exec(
        select(Participant).where(
            Participant.meeting_id == meeting_id, col(Participant.left_at).is_(None)
        )
    ).all()


def count_present(session: Session, *, meeting_id: uuid.UUID) -> int:
    return session.exec(
        select(func.count())
        .select_from(Participant)
        .where(
            Participant.meeting_id == meeting_id,
            col(Participant.left_at).is_(None),
            col(Participant.role) != Role.recorder,
        )
    ).one()


def _join_role(meeting: Meeting, user: User | None, asked: Role | None) -> Role:
    if user is not None and user.id == meeting.host_user_id:
        natural = Role.host
    elif is_host(meeting, user):
        natural = Role.co_host
    else:
        natural = Role.participant
    if asked is None or asked == natural:
        return natural
    if asked == Role.viewer:
        return Role.viewer
    raise Forbidden(f"You cannot join this meeting as {asked}")


def _password_ok(meeting: Meeting, user: User | None, password: str | None) -> bool:
    if meeting.password_hash is None or is_host(meeting, user):
        return True
    return password is not None and verify_password(password, meeting.password_hash)


def _check_admission(meeting: Meeting, user: User | None, request: JoinRequest) -> None:
    if meeting.status in (MeetingStatus.ended, MeetingStatus.cancelled):
        raise MeetingEnded(f"Meeting {meeting.id} has {meeting.status}")
    if user is None and not meeting.allow_guests:
        raise Forbidden("This meeting admits signed-in users only")
    if not _password_ok(meeting, user, request.password):
        raise WrongPassword("The meeting password is missing or wrong")
    missing = [c for c in required_consent(meeting) if c not in request.consent.answered()]
    if missing:
        raise ConsentRequired(
            "Answer the consent questions this meeting asks: "
            + ", ".join(c.value for c in missing),
            missing=[c.value for c in missing],
        )


def _current_session(session: Session, *, meeting: Meeting, now: datetime) -> MeetingSession:
    run = session.exec(
        select(MeetingSession).where(
            MeetingSession.meeting_id == meeting.id, col(MeetingSession.ended_at).is_(None)
        )
    ).first()
    if run is None:
        run = MeetingSession(meeting_id=meeting.id, started_at=now)
        session.add(run)
        session.flush()
    return run


def join_meeting(
    session: Session,
    *,
    meeting: Meeting,
    user: User | None,
    request: JoinRequest,
    client_info: dict[str, Any],
) -> Participant:
    """Admit someone to a meeting: check it, create the participant, log their consent.

    Call it with the meeting loaded ``for_update`` so capacity holds under concurrency
    on PostgreSQL.
    """
    _check_admission(meeting, user, request)
    role = _join_role(meeting, user, request.role)
    if count_present(session, meeting_id=meeting.id) >= meeting.max_participants:
        raise MeetingFull(f"Meeting {meeting.id} has {meeting.max_participants} participants")
    now = utcnow()
    if meeting.status == MeetingStatus.scheduled:
        transition_meeting(meeting, MeetingStatus.active)
        meeting.actual_start = now
        session.add(meeting)
    display_name = request.display_name or (user.display_name if user else None)
    if not display_name:
        raise BadRequest("Guests must give a display_name")
    participant = Participant(
        meeting_id=meeting.id,
        session_id=_current_session(session, meeting=meeting, now=now).id,
        user_id=user.id if user else None,
        display_name=display_name,
        role=role,
        user_agent=(client_info.get("user_agent") or "")[:500] or None,
        ip_address=client_info.get("ip"),
        joined_at=now,
    )
    session.add(participant)
    session.flush()
    record_consent(session, participant=participant, answers=request.consent,
                   client_info=client_info)
    return participant


def add_recorder(session: Session, *, meeting: Meeting) -> Participant:
    """The silent participant: no seat, no consent of its own, hidden from lists."""
    if meeting.status in (MeetingStatus.ended, MeetingStatus.cancelled):
        raise MeetingEnded(f"Meeting {meeting.id} has {meeting.status}")
    participant = Participant(
        meeting_id=meeting.id,
        session_id=_current_session(session, meeting=meeting, now=utcnow()).id,
        display_name="Verbatim recorder",
        role=Role.recorder,
    )
    session.add(participant)
    session.flush()
    return participant


def get_participant(
    session: Session, *, participant_id: uuid.UUID, meeting_id: uuid.UUID
) -> Participant:
    participant = session.get(Participant, participant_id)
    if participant is None or participant.meeting_id != meeting_id:
        raise NotFound(f"Participant {participant_id} not found")
    return participant


def _mark_left(participant: Participant, now: datetime) -> None:
    participant.left_at = now
    participant.connection_state = ConnectionState.left


def leave_meeting(session: Session, *, participant: Participant) -> bool:
    """Mark a participant as gone; False if they had already left."""
    if participant.left_at is not None:
        return False
    _mark_left(participant, utcnow())
    session.add(participant)
    return True


def list_participants(session: Session, *, meeting_id: uuid.UUID) -> Sequence[Participant]:
    """Everyone who joined, except the recorder, which is never listed."""
    return session.exec(
        select(Participant)
        .where(Participant.meeting_id == meeting_id, col(Participant.role) != Role.recorder)
        .order_by(col(Participant.joined_at))
    ).all()


# --------------------------------------------------------------------------- consent


def record_consent(
    session: Session,
    *,
    participant: Participant,
    answers: ConsentAnswers,
    client_info: dict[str, Any],
) -> list[ConsentLog]:
    """Append one consent record per answered question; nothing is ever updated."""
    rows = [
        ConsentLog(
            meeting_id=participant.meeting_id,
            participant_id=participant.id,
            consent_type=consent_type,
            accepted=accepted,
            client_info=client_info,
        )
        for consent_type, accepted in answers.answered().items()
    ]
    session.add_all(rows)
    session.flush()
    return rows


def latest_consent(session: Session, *, participant_id: uuid.UUID) -> dict[ConsentType, ConsentLog]:
    """The newest record of each consent type for a participant."""
    latest: dict[ConsentType, ConsentLog] = {}
    rows = session.exec(
        select(ConsentLog)
        .where(ConsentLog.participant_id == participant_id)
        .order_by(col(ConsentLog.created_at), col(ConsentLog.id))
    )
    for row in rows:
        latest[ConsentType(row.consent_type)] = row
    return latest


def list_consent(session: Session, *, meeting_id: uuid.UUID) -> Sequence[ConsentLog]:
    return session.exec(
        select(ConsentLog)
        .where(ConsentLog.meeting_id == meeting_id)
        .order_by(col(ConsentLog.created_at), col(ConsentLog.id))
    ).all()


# --------------------------------------------------------------------------- audit


def add_audit(
    session: Session,
    *,
    action: str,
    meeting_id: uuid.UUID | None = None,
    actor_user_id: uuid.UUID | None = None,
    actor_participant_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        meeting_id=meeting_id,
        actor_user_id=actor_user_id,
        actor_participant_id=actor_participant_id,
        details=details or {},
    )
    session.add(event)
    return event


def list_audit(
    session: Session, *, meeting_id: uuid.UUID, limit: int = 500, offset: int = 0
) -> Sequence[AuditEvent]:
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.meeting_id == meeting_id)
        .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
        .limit(limit)
        .offset(offset)
    ).all()
