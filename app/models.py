"""The data model: SQLModel tables and the API schemas built on them.

Each entity has a family: ``XBase`` (shared fields), ``X`` (the table), ``XCreate`` /
``XUpdate`` (what clients send) and ``XPublic`` (what clients get back). Enumerations are
stored as short strings so the same migrations run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import EmailStr, field_validator, model_validator
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that comes back aware (and in UTC) on every database."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(
        self, value: datetime | None, dialect: sa.Dialect
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


def _optional_timestamp(*, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


def _enum_column(default: StrEnum, *, index: bool = False) -> Any:
    return Field(default=default, sa_type=sa.String(20), nullable=False, index=index)


def _json_column(default_factory: Any) -> Any:
    return Field(default_factory=default_factory, sa_type=sa.JSON, nullable=False)


# --------------------------------------------------------------------------- enums


class MeetingStatus(StrEnum):
    scheduled = "scheduled"
    active = "active"
    ended = "ended"
    cancelled = "cancelled"


class MeetingType(StrEnum):
    instant = "instant"
    scheduled = "scheduled"
    recurring = "recurring"


class Role(StrEnum):
    host = "host"
    co_host = "co-host"
    participant = "participant"
    viewer = "viewer"
    recorder = "recorder"


class ConnectionState(StrEnum):
    joining = "joining"
    connected = "connected"
    reconnecting = "reconnecting"
    left = "left"


class ConsentType(StrEnum):
    recording = "recording"
    transcription = "transcription"
    ai = "ai"


class RecordingStatus(StrEnum):
    recording = "recording"
    stopping = "stopping"
    finalized = "finalized"
    failed = "failed"
    deleted = "deleted"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


# --------------------------------------------------------------------------- users


class UserBase(SQLModel):
    email: EmailStr = Field(max_length=255)
    display_name: str = Field(min_length=1, max_length=200)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=255, unique=True, index=True)
    tenant_id: uuid.UUID = Field(default_factory=uuid.uuid4, index=True)
    external_subject: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default="active", max_length=20)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class UserPublic(SQLModel):
    id: uuid.UUID
    email: str
    display_name: str
    tenant_id: uuid.UUID
    created_at: datetime


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(default="default", max_length=100)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _timestamp()
    last_used_at: datetime | None = _optional_timestamp()
    revoked_at: datetime | None = _optional_timestamp()


# --------------------------------------------------------------------------- meetings


class MeetingSettings(SQLModel):
    """The per-meeting switches a host can change."""

    max_participants: int = Field(default=100, ge=1, le=1000)
    recording_enabled: bool = False
    auto_record: bool = False
    transcription_enabled: bool = False
    ai_summary_enabled: bool = False
    language: str = Field(default="en", min_length=2, max_length=10)
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    allow_guests: bool = True


class MeetingBase(MeetingSettings):
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    meeting_type: MeetingType = MeetingType.instant
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None


class Meeting(MeetingBase, table=True):
    __tablename__ = "meetings"
    __table_args__ = (sa.Index("ix_meetings_host_created", "host_user_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    host_user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    meeting_type: MeetingType = _enum_column(MeetingType.instant)
    status: MeetingStatus = _enum_column(MeetingStatus.scheduled, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    co_host_user_ids: list[str] = _json_column(list)
    scheduled_start: datetime | None = _optional_timestamp(index=True)
    scheduled_end: datetime | None = _optional_timestamp()
    actual_start: datetime | None = _optional_timestamp()
    actual_end: datetime | None = _optional_timestamp()
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


def _check_schedule(start: datetime | None, end: datetime | None) -> None:
    if start and end and end <= start:
        raise ValueError("scheduled_end must be after scheduled_start")


class MeetingCreate(MeetingBase):
    password: str | None = Field(default=None, min_length=4, max_length=128)
    co_host_user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)

    @field_validator("scheduled_start", "scheduled_end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must carry a timezone, e.g. 2026-01-01T10:00:00Z")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> MeetingCreate:
        _check_schedule(self.scheduled_start, self.scheduled_end)
        return self


class MeetingUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    password: str | None = Field(default=None, min_length=4, max_length=128)
    clear_password: bool = False
    co_host_user_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)
    max_participants: int | None = Field(default=None, ge=1, le=1000)
    recording_enabled: bool | None = None
    auto_record: bool | None = None
    transcription_enabled: bool | None = None
    ai_summary_enabled: bool | None = None
    language: str | None = Field(default=None, min_length=2, max_length=10)
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    allow_guests: bool | None = None


class MeetingPublic(MeetingBase):
    id: uuid.UUID
    host_user_id: uuid.UUID
    status: MeetingStatus
    has_password: bool
    co_host_user_ids: list[uuid.UUID]
    required_consent: list[ConsentType]
    actual_start: datetime | None
    actual_end: datetime | None
    created_at: datetime
    updated_at: datetime


class MeetingPage(SQLModel):
    items: list[MeetingPublic]
    total: int
    limit: int
    offset: int


class MeetingSession(SQLModel, table=True):
    """One run of a meeting: it starts with the first join and ends with the meeting."""

    __tablename__ = "meeting_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    started_at: datetime = _timestamp()
    ended_at: datetime | None = _optional_timestamp()
    recording_url: str | None = Field(default=None, max_length=1000)


class Participant(SQLModel, table=True):
    __tablename__ = "participants"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    session_id: uuid.UUID | None = Field(
        default=None, foreign_key="meeting_sessions.id", ondelete="CASCADE"
    )
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", index=True)
    display_name: str = Field(max_length=200)
    role: Role = _enum_column(Role.participant)
    connection_state: ConnectionState = _enum_column(ConnectionState.joining)
    is_muted: bool = False
    is_video_on: bool = True
    user_agent: str | None = Field(default=None, max_length=500)
    ip_address: str | None = Field(default=None, max_length=64)
    joined_at: datetime = _timestamp()
    left_at: datetime | None = _optional_timestamp()


class ParticipantPublic(SQLModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    user_id: uuid.UUID | None
    display_name: str
    role: Role
    connection_state: ConnectionState
    joined_at: datetime
    left_at: datetime | None


# --------------------------------------------------------------------------- consent


class ConsentLog(SQLModel, table=True):
    """Append-only: a change of mind is a new row, never an update."""

    __tablename__ = "consent_logs"
    __table_args__ = (
        sa.Index("ix_consent_logs_participant_type", "participant_id", "consent_type"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    participant_id: uuid.UUID = Field(foreign_key="participants.id", ondelete="CASCADE")
    consent_type: ConsentType = _enum_column(ConsentType.recording)
    accepted: bool
    client_info: dict[str, Any] = _json_column(dict)
    created_at: datetime = _timestamp()


class ConsentAnswers(SQLModel):
    """A participant's answers to the consent prompt; unset means not asked."""

    recording: bool | None = None
    transcription: bool | None = None
    ai: bool | None = None

    def answered(self) -> dict[ConsentType, bool]:
        return {
            ConsentType(name): value
            for name, value in self.model_dump().items()
            if value is not None
        }


class ConsentLogPublic(SQLModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    consent_type: ConsentType
    accepted: bool
    created_at: datetime


# --------------------------------------------------------------------------- joining


class JoinRequest(SQLModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    password: str | None = Field(default=None, max_length=128)
    role: Role | None = None
    consent: ConsentAnswers = Field(default_factory=ConsentAnswers)


class IceServer(SQLModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class JoinResponse(SQLModel):
    token: str
    expires_at: datetime
    participant: ParticipantPublic
    ice_servers: list[IceServer]
    signal_url: str


# --------------------------------------------------------------------------- chat


class ChatMessage(SQLModel, table=True):
    __tablename__ = "chat_messages"
    __table_args__ = (sa.Index("ix_chat_messages_meeting_created", "meeting_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", ondelete="CASCADE")
    sender_participant_id: uuid.UUID | None = Field(
        default=None, foreign_key="participants.id", ondelete="SET NULL"
    )
    sender_name: str = Field(max_length=200)
    content: str = Field(max_length=4000)
    is_private: bool = False
    recipient_participant_id: uuid.UUID | None = Field(
        default=None, foreign_key="participants.id", ondelete="SET NULL"
    )
    created_at: datetime = _timestamp()


# --------------------------------------------------------------------------- recordings


class Recording(SQLModel, table=True):
    __tablename__ = "recordings"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    session_id: uuid.UUID | None = Field(
        default=None, foreign_key="meeting_sessions.id", ondelete="SET NULL"
    )
    started_by_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    status: RecordingStatus = _enum_column(RecordingStatus.recording, index=True)
    storage_backend: str = Field(max_length=20)
    storage_bucket: str | None = Field(default=None, max_length=200)
    storage_prefix: str = Field(max_length=500)
    consent_log_ids: list[str] = _json_column(list)
    duration_ms: int | None = None
    size_bytes: int | None = Field(default=None, sa_type=sa.BigInteger)
    error: str | None = Field(default=None, sa_type=sa.Text)
    recorder_id: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _optional_timestamp()
    started_at: datetime = _timestamp()
    ended_at: datetime | None = _optional_timestamp()
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class RecordingTrack(SQLModel, table=True):
    __tablename__ = "recording_tracks"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    recording_id: uuid.UUID = Field(foreign_key="recordings.id", index=True, ondelete="CASCADE")
    participant_id: uuid.UUID = Field(foreign_key="participants.id", ondelete="CASCADE")
    kind: str = Field(max_length=10)
    codec: str = Field(max_length=20)
    created_at: datetime = _timestamp()


class RecordingChunk(SQLModel, table=True):
    __tablename__ = "recording_chunks"
    __table_args__ = (sa.UniqueConstraint("track_id", "seq", name="uq_recording_chunks_track_seq"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    recording_id: uuid.UUID = Field(foreign_key="recordings.id", index=True, ondelete="CASCADE")
    track_id: uuid.UUID = Field(foreign_key="recording_tracks.id", ondelete="CASCADE")
    participant_id: uuid.UUID = Field(foreign_key="participants.id", ondelete="CASCADE")
    kind: str = Field(max_length=10)
    seq: int
    start_ms: int = Field(sa_type=sa.BigInteger)
    duration_ms: int
    size_bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=500)
    uploaded_at: datetime | None = _optional_timestamp()
    created_at: datetime = _timestamp()


class RecordingGap(SQLModel, table=True):
    __tablename__ = "recording_gaps"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    recording_id: uuid.UUID = Field(foreign_key="recordings.id", index=True, ondelete="CASCADE")
    track_id: uuid.UUID = Field(foreign_key="recording_tracks.id", ondelete="CASCADE")
    start_ms: int = Field(sa_type=sa.BigInteger)
    end_ms: int = Field(sa_type=sa.BigInteger)
    reason: str = Field(max_length=40)
    created_at: datetime = _timestamp()


# --------------------------------------------------------------------------- transcripts


class TranscriptSegment(SQLModel, table=True):
    __tablename__ = "transcript_segments"
    __table_args__ = (sa.Index("ix_transcript_segments_meeting_start", "meeting_id", "start_ms"),)

    id: str = Field(primary_key=True, max_length=64)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", ondelete="CASCADE")
    participant_id: uuid.UUID | None = Field(
        default=None, foreign_key="participants.id", ondelete="SET NULL"
    )
    speaker_name: str = Field(max_length=200)
    start_ms: int = Field(sa_type=sa.BigInteger)
    end_ms: int = Field(sa_type=sa.BigInteger)
    text: str = Field(sa_type=sa.Text)
    source: str = Field(default="live", max_length=20)
    created_at: datetime = _timestamp()


class Summary(SQLModel, table=True):
    __tablename__ = "summaries"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=20)
    model: str | None = Field(default=None, max_length=200)
    content: str = Field(sa_type=sa.Text)
    action_items: list[dict[str, Any]] = _json_column(list)
    input_participant_ids: list[str] = _json_column(list)
    created_at: datetime = _timestamp()


# --------------------------------------------------------------------------- operations


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (sa.UniqueConstraint("kind", "subject_id", name="uq_jobs_kind_subject"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=50)
    subject_id: uuid.UUID
    meeting_id: uuid.UUID | None = Field(
        default=None, foreign_key="meetings.id", index=True, ondelete="CASCADE"
    )
    status: JobStatus = _enum_column(JobStatus.queued, index=True)
    attempts: int = 0
    progress: float = 0.0
    error: str | None = Field(default=None, sa_type=sa.Text)
    result: dict[str, Any] = _json_column(dict)
    created_at: datetime = _timestamp()
    started_at: datetime | None = _optional_timestamp()
    finished_at: datetime | None = _optional_timestamp()


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    events: list[str] = _json_column(list)
    active: bool = True
    created_at: datetime = _timestamp()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_meeting_created", "meeting_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    meeting_id: uuid.UUID | None = Field(
        default=None, foreign_key="meetings.id", ondelete="CASCADE"
    )
    actor_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    actor_participant_id: uuid.UUID | None = Field(
        default=None, foreign_key="participants.id", ondelete="SET NULL"
    )
    action: str = Field(max_length=50)
    details: dict[str, Any] = _json_column(dict)
    created_at: datetime = _timestamp()


class AuditEventPublic(SQLModel):
    id: uuid.UUID
    meeting_id: uuid.UUID | None
    actor_user_id: uuid.UUID | None
    actor_participant_id: uuid.UUID | None
    action: str
    details: dict[str, Any]
    created_at: datetime
