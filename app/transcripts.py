"""Transcript segments: storage, export formats (JSON, WebVTT, SRT, text) and search."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from app import crud
from app.models import Meeting, TranscriptSegment, User

# --------------------------------------------------------------------------- storage


def save_final_segment(session: Session, *, segment: TranscriptSegment) -> TranscriptSegment:
    """Store a final segment; the same id stored again replaces it (idempotent)."""
    existing = session.get(TranscriptSegment, segment.id)
    if existing is None:
        session.add(segment)
        return segment
    for name in ("participant_id", "speaker_name", "start_ms", "end_ms", "text", "source"):
        setattr(existing, name, getattr(segment, name))
    session.add(existing)
    return existing


def list_segments(session: Session, *, meeting_id: uuid.UUID) -> Sequence[TranscriptSegment]:
    return session.exec(
        select(TranscriptSegment)
        .where(TranscriptSegment.meeting_id == meeting_id)
        .order_by(col(TranscriptSegment.start_ms), col(TranscriptSegment.id))
    ).all()


# --------------------------------------------------------------------------- formats


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments: Sequence[TranscriptSegment]) -> str:
    cues = ["WEBVTT", ""]
    for segment in segments:
        cues += [
            segment.id,
            f"{_clock(segment.start_ms, '.')} --> {_clock(segment.end_ms, '.')}",
            f"<v {_escape_vtt(segment.speaker_name)}>{_escape_vtt(segment.text)}",
            "",
        ]
    return "\n".join(cues)


def to_srt(segments: Sequence[TranscriptSegment]) -> str:
    cues = []
    for number, segment in enumerate(segments, start=1):
        cues += [
            str(number),
            f"{_clock(segment.start_ms, ',')} --> {_clock(segment.end_ms, ',')}",
            f"{segment.speaker_name}: {segment.text}",
            "",
        ]
    return "\n".join(cues)


def to_text(segments: Sequence[TranscriptSegment]) -> str:
    return "".join(
        f"[{_clock(segment.start_ms, '.')[:8]}] {segment.speaker_name}: {segment.text}\n"
        for segment in segments
    )


# --------------------------------------------------------------------------- search


class SearchHit(SQLModel):
    """One match: where (meeting, speaker, time) and a snippet with the match in [...]."""

    meeting_id: uuid.UUID
    meeting_title: str
    segment_id: str
    participant_id: uuid.UUID | None
    speaker_name: str
    start_ms: int
    end_ms: int
    snippet: str


_WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    """The words of a query; punctuation and search-syntax characters are dropped."""
    return _WORD.findall(query)[:20]


def search(session: Session, *, user: User, query: str, limit: int = 20) -> list[SearchHit]:
    terms = search_terms(query)
    if not terms:
        return []
    visible = select(Meeting.id).where(crud.visible_condition(user))
    if session.get_bind().dialect.name == "postgresql":
        statement = _postgres_query(terms)
    else:
        statement = _sqlite_query(terms)
    statement = statement.where(_SEGMENTS.c.meeting_id.in_(visible)).limit(limit)
    return [SearchHit(**row._mapping) for row in session.execute(statement)]


_SEGMENTS = SQLModel.metadata.tables["transcript_segments"]
_MEETINGS = SQLModel.metadata.tables["meetings"]


def _hit_columns(snippet: sa.ColumnElement[str]) -> list[sa.ColumnElement[Any]]:
    return [
        _SEGMENTS.c.meeting_id,
        _MEETINGS.c.title.label("meeting_title"),
        _SEGMENTS.c.id.label("segment_id"),
        _SEGMENTS.c.participant_id,
        _SEGMENTS.c.speaker_name,
        _SEGMENTS.c.start_ms,
        _SEGMENTS.c.end_ms,
        snippet.label("snippet"),
    ]


def _postgres_query(terms: list[str]) -> sa.Select[Any]:
    tsquery = sa.func.plainto_tsquery("english", " ".join(terms))
    document = sa.func.to_tsvector("english", _SEGMENTS.c.text)
    snippet = sa.func.ts_headline("english", _SEGMENTS.c.text, tsquery,
                                  "StartSel=[, StopSel=], MaxWords=20, MinWords=5")
    return (
        sa.select(*_hit_columns(snippet))
        .join(_MEETINGS, _MEETINGS.c.id == _SEGMENTS.c.meeting_id)
        .where(document.op("@@")(tsquery))
        .order_by(sa.func.ts_rank(document, tsquery).desc(), _SEGMENTS.c.start_ms)
    )


def _sqlite_query(terms: list[str]) -> sa.Select[Any]:
    match = " ".join('"' + term.replace('"', "") + '"' for term in terms)
    fts = sa.table("transcript_segments_fts", sa.column("rowid"), sa.column("rank"))
    fts_name: sa.ColumnElement[Any] = sa.literal_column("transcript_segments_fts")
    snippet = sa.func.snippet(fts_name, 0, "[", "]", "…", 16)
    return (
        sa.select(*_hit_columns(snippet))
        .select_from(fts)
        .join(_SEGMENTS, sa.literal_column("transcript_segments.rowid") == fts.c.rowid)
        .join(_MEETINGS, _MEETINGS.c.id == _SEGMENTS.c.meeting_id)
        .where(fts_name.op("MATCH")(match))
        .order_by(fts.c.rank)
    )
