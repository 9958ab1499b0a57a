"""The repository layer directly, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from app import crud
from app.config import Settings
from app.db import create_db_engine, session_scope
from app.exceptions import IllegalTransition, MeetingFull
from app.models import (
    ConsentAnswers,
    ConsentType,
    JoinRequest,
    MeetingCreate,
    MeetingStatus,
    Role,
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
def user(session: Session) -> User:
    return crud.create_user(session, email=unique_email(), display_name="Ulla")


def test_meeting_lifecycle_refuses_illegal_transitions(session: Session, user: User) -> None:
    meeting = crud.create_meeting(session, host=user, data=MeetingCreate(title="t"))
    crud.transition_meeting(meeting, MeetingStatus.active)
    with pytest.raises(IllegalTransition):
        crud.transition_meeting(meeting, MeetingStatus.scheduled)
    crud.end_meeting(session, meeting=meeting)
    assert meeting.status == MeetingStatus.ended and meeting.actual_end is not None
    with pytest.raises(IllegalTransition):
        crud.transition_meeting(meeting, MeetingStatus.active)


def test_join_starts_a_session_and_counts_capacity(session: Session, user: User) -> None:
    meeting = crud.create_meeting(session, host=user,
                                  data=MeetingCreate(title="t", max_participants=2))
    first = crud.join_meeting(session, meeting=meeting, user=None,
                              request=JoinRequest(display_name="a"), client_info={})
    second = crud.join_meeting(session, meeting=meeting, user=user,
                               request=JoinRequest(), client_info={})
    assert meeting.status == MeetingStatus.active and meeting.actual_start is not None
    assert first.session_id == second.session_id is not None
    assert second.role is Role.host and second.display_name == "Ulla"
    with pytest.raises(MeetingFull):
        crud.join_meeting(session, meeting=meeting, user=None,
                          request=JoinRequest(display_name="c"), client_info={})
    assert crud.leave_meeting(session, participant=first) is True
    assert crud.leave_meeting(session, participant=first) is False
    assert crud.count_present(session, meeting_id=meeting.id) == 1


def test_latest_consent_wins_and_history_stays(session: Session, user: User) -> None:
    meeting = crud.create_meeting(session, host=user,
                                  data=MeetingCreate(title="t", recording_enabled=True))
    participant = crud.join_meeting(
        session, meeting=meeting, user=None, client_info={"user_agent": "pytest"},
        request=JoinRequest(display_name="p", consent=ConsentAnswers(recording=True)))
    crud.record_consent(session, participant=participant,
                        answers=ConsentAnswers(recording=False), client_info={})
    latest = crud.latest_consent(session, participant_id=participant.id)
    assert latest[ConsentType.recording].accepted is False
    history = crud.list_consent(session, meeting_id=meeting.id)
    assert [row.accepted for row in history] == [True, False]
    assert history[0].client_info == {"user_agent": "pytest"}


def test_api_keys_are_stored_hashed(session: Session, user: User) -> None:
    key, plain = crud.create_api_key(session, user=user)
    assert plain not in (key.key_hash, key.prefix) and plain.startswith(key.prefix)
    assert crud.get_user_by_api_key(session, key=plain) == user
    assert crud.get_user_by_api_key(session, key=plain + "x") is None
