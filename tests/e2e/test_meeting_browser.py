"""Two real browsers meet through the SFU: audio both ways, mute, chat, leave."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import crud
from app.config import Settings
from app.db import create_db_engine, session_scope
from app.main import create_app
from tests.conftest import REDIS_URL, TEST_SECRET, unique_email
from tests.servers import serve_in_thread

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def meeting_server(request: pytest.FixtureRequest, migrated_sqlite_url: str,
                   tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    from tests.conftest import _empty_tables

    _empty_tables(migrated_sqlite_url)
    settings = Settings(env="test", data_dir=tmp_path, database_url=migrated_sqlite_url,
                        secret_key=TEST_SECRET,
                        redis_url=REDIS_URL if request.param == "redis" else None)
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        user = crud.create_user(session, email=unique_email(), display_name="Host")
        _, key = crud.create_api_key(session, user=user)
    engine.dispose()
    with serve_in_thread(create_app(settings)) as url:
        yield url, {"X-API-Key": key}


def _join(page, base: str, meeting_id: str, name: str) -> str:
    page.goto(f"{base}/meet/{meeting_id}")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join").click()
    page.wait_for_function("window.verbatim.me && window.verbatim.signal", timeout=20_000)
    page.wait_for_selector("#room:not([hidden])")
    return page.evaluate("window.verbatim.me.id")


def _inbound_audio_bytes(page, participant_id: str) -> int:
    totals = page.evaluate("window.verbatim.media.inboundBytes()")
    return int(totals.get(f"{participant_id}:audio", 0))


def _loudest(page, participant_id: str, seconds: float = 6.0) -> float:
    loudest, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline and loudest < 0.02:
        loudest = max(loudest, page.evaluate(f"window.verbatim.audioLevel('{participant_id}')"))
        page.wait_for_timeout(100)
    return loudest


def test_two_browsers_meet(meeting_server, launch_browser, channel_wavs) -> None:
    base, headers = meeting_server
    meeting = httpx.post(f"{base}/v1/meetings", json={"title": "E2E"}, headers=headers)
    meeting_id = meeting.json()["id"]

    alice, bob = launch_browser(channel_wavs["left"]), launch_browser(channel_wavs["right"])
    alice_id = _join(alice, base, meeting_id, "Alice")
    bob_id = _join(bob, base, meeting_id, "Bob")

    # each sees the other's tile, with media flowing both ways
    alice.wait_for_selector(f"#tile-{bob_id}", timeout=20_000)
    bob.wait_for_selector(f"#tile-{alice_id}", timeout=20_000)
    for page, other in ((alice, bob_id), (bob, alice_id)):
        page.wait_for_function(
            f"window.verbatim.media.tracks && Object.values(window.verbatim.media.tracks)"
            f".includes('{other}')", timeout=20_000)
        first = _inbound_audio_bytes(page, other)
        page.wait_for_timeout(1500)
        assert _inbound_audio_bytes(page, other) > first, "inbound RTP bytes did not grow"
        assert _loudest(page, other) > 0.02, "the received audio is silence"

    # mute on one side shows on the other
    alice.get_by_role("button", name="Mute").click()
    bob.wait_for_selector(f'#tile-{alice_id}[data-muted="true"]', timeout=10_000)

    # chat
    alice.get_by_label("Message").fill("hello from alice")
    alice.get_by_role("button", name="Send").click()
    bob.wait_for_selector("#chat-log li:has-text('hello from alice')", timeout=10_000)

    # leaving removes the tile
    alice.get_by_role("button", name="Leave").click()
    bob.wait_for_selector(f"#tile-{alice_id}", state="detached", timeout=10_000)
