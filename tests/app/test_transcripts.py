"""Transcript exports and search, on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.config import Settings
from app.db import create_db_engine, session_scope
from app.models import TranscriptSegment
from app.transcripts import save_final_segment
from tests.app.conftest import Account, create_meeting, join


def _store(settings: Settings, meeting_id: str, *segments: tuple[str, str, int, int, str]) -> None:
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        for segment_id, speaker, start, end, text in segments:
            save_final_segment(session, segment=TranscriptSegment(
                id=segment_id, meeting_id=uuid.UUID(meeting_id), speaker_name=speaker,
                start_ms=start, end_ms=end, text=text))
    engine.dispose()


@pytest.fixture
def meeting(http: httpx.Client, host: Account, settings: Settings) -> dict:
    meeting = create_meeting(http, host, title="Wizard review")
    _store(settings, meeting["id"],
           ("s2", "Bob <B>", 4200, 6100, "The horizon seems extremely distant."),
           ("s1", "Alice", 500, 3900,
            "He began a confused complaint against the wizard."))
    return meeting


def test_json_vtt_srt_txt(http: httpx.Client, host: Account, meeting: dict) -> None:
    url = f"/v1/meetings/{meeting['id']}/transcript"
    body = http.get(url, headers=host.headers).json()
    assert [s["id"] for s in body["segments"]] == ["s1", "s2"]

    vtt = http.get(url, params={"format": "vtt"}, headers=host.headers)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\ns1\n00:00:00.500 --> 00:00:03.900\n<v Alice>He began")
    assert "<v Bob &lt;B&gt;>The horizon" in vtt.text

    srt = http.get(url, params={"format": "srt"}, headers=host.headers).text
    assert srt.splitlines()[:3] == ["1", "00:00:00,500 --> 00:00:03,900",
                                    "Alice: He began a confused complaint against the wizard."]
    txt = http.get(url, params={"format": "txt"}, headers=host.headers).text
    assert txt.splitlines()[1] == "[00:00:04] Bob <B>: The horizon seems extremely distant."

    bad = http.get(url, params={"format": "pdf"}, headers=host.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "format"


def test_final_segment_replaces_by_id(http: httpx.Client, host: Account, meeting: dict,
                                      settings: Settings) -> None:
    _store(settings, meeting["id"], ("s1", "Alice", 500, 3800, "He began a complaint."))
    segments = http.get(f"/v1/meetings/{meeting['id']}/transcript",
                        headers=host.headers).json()["segments"]
    assert [s["text"] for s in segments] == ["He began a complaint.",
                                             "The horizon seems extremely distant."]


def test_participants_read_strangers_do_not(http: httpx.Client, host: Account, meeting: dict,
                                            make_account) -> None:
    token = join(http, meeting["id"]).json()["token"]
    url = f"/v1/meetings/{meeting['id']}/transcript"
    assert http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert http.get(url, headers=make_account("Stranger").headers).status_code == 404
    assert http.get(url).status_code == 401


def test_search_finds_words_in_visible_meetings(http: httpx.Client, host: Account,
                                                meeting: dict, make_account,
                                                settings: Settings) -> None:
    other = make_account("Other")
    hidden = create_meeting(http, other, title="Not yours")
    _store(settings, hidden["id"], ("x1", "Eve", 0, 1000, "The wizard is hidden here."))

    hits = http.get("/v1/transcripts/search", params={"q": "wizards"},
                    headers=host.headers).json()
    assert [(h["meeting_id"], h["segment_id"], h["speaker_name"]) for h in hits] == [
        (meeting["id"], "s1", "Alice")]
    assert hits[0]["meeting_title"] == "Wizard review" and hits[0]["start_ms"] == 500
    assert "[wizard]" in hits[0]["snippet"]

    assert http.get("/v1/transcripts/search", params={"q": "horizon distant"},
                    headers=host.headers).json()[0]["segment_id"] == "s2"
    assert http.get("/v1/transcripts/search", params={"q": '"(* OR'},
                    headers=host.headers).json() == []
    assert http.get("/v1/transcripts/search", params={"q": "submarine"},
                    headers=host.headers).json() == []
