"""The SFU with real aiortc peer connections over loopback."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from sfu import Sfu
from sfu.exceptions import InvalidSdp, NegotiationState, UnknownPeer
from tests.sfu.clients import Participant, decode_opus

pytestmark = pytest.mark.anyio
MEETING = "m-1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _join(sfu: Sfu, participant: Participant) -> None:
    async def on_offer(sdp: str, publish: dict, tracks: dict) -> None:
        await participant.on_offer(sdp, publish, tracks)
        await sfu.answer(MEETING, participant.name, await participant.next_answer())

    await sfu.join(MEETING, participant.name, on_offer=on_offer)


async def _wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _audio_from(participant: Participant, source: str, packets: int = 50) -> np.ndarray:
    track = participant.received[source]["audio"]
    received = [await asyncio.wait_for(track.recv(), 10) for _ in range(packets)]
    return decode_opus(received)


async def test_participants_hear_and_see_each_other() -> None:
    sfu = Sfu(stats_interval=0.5)
    alice, bob = Participant("alice", tone=440), Participant("bob", tone=880)
    try:
        await _join(sfu, alice)
        await _join(sfu, bob)
        await _wait_for(lambda: "bob" in alice.received and "alice" in bob.received
                        and len(alice.received["bob"]) == 2 and len(bob.received["alice"]) == 2)
        for listener, speaker, frequency in ((alice, "bob", 880), (bob, "alice", 440)):
            pcm = await _audio_from(listener, speaker)
            assert np.abs(pcm).max() > 0.1, "forwarded audio is silence"
            spectrum = np.abs(np.fft.rfft(pcm[-48000 // 2:].astype(float)))
            peak_hz = np.argmax(spectrum) * 48000 / (len(spectrum) * 2 - 2)
            assert abs(peak_hz - frequency) < 20
            video = await asyncio.wait_for(listener.received[speaker]["video"].recv(), 10)
            assert video.size > 0

        await asyncio.sleep(1.2)
        quality = sfu.quality(MEETING)
        assert {p["peerId"] for p in quality["participants"]} == {"alice", "bob"}
        assert quality["tier"] in ("low", "medium", "high")
    finally:
        await sfu.close()
        await sfu.close()
        await alice.close()
        await bob.close()


async def test_leave_renegotiates_and_ends_the_track() -> None:
    sfu = Sfu()
    alice, bob = Participant("alice"), Participant("bob", video=False)
    try:
        await _join(sfu, alice)
        await _join(sfu, bob)
        await _wait_for(lambda: "audio" in alice.received.get("bob", {}))
        offers_before = alice.offers
        await sfu.leave(MEETING, "bob")
        await _wait_for(lambda: alice.offers > offers_before)
        track = alice.received["bob"]["audio"]
        with pytest.raises(Exception):  # noqa: B017 - MediaStreamError once drained
            for _ in range(200):
                await asyncio.wait_for(track.recv(), 5)
    finally:
        await sfu.close()
        await alice.close()
        await bob.close()


async def test_bad_input_is_refused_and_the_meeting_goes_on() -> None:
    sfu = Sfu()
    alice, bob = Participant("alice"), Participant("bob")
    try:
        await _join(sfu, alice)
        with pytest.raises(NegotiationState):
            await sfu.answer(MEETING, "alice", "v=0\r\n")
        with pytest.raises(UnknownPeer):
            await sfu.answer(MEETING, "nobody", "v=0")
        with pytest.raises(InvalidSdp):
            await sfu.add_ice_candidate(MEETING, "alice", {"candidate": "candidate:garbage"})
        with pytest.raises(InvalidSdp):
            await sfu.add_ice_candidate(MEETING, "alice", {"candidate": 42})

        offers: list[str] = []

        async def bad_answer(sdp: str, publish: dict, tracks: dict) -> None:
            offers.append(sdp)

        await sfu.join(MEETING, "mallory", on_offer=bad_answer)
        with pytest.raises(InvalidSdp):
            await sfu.answer(MEETING, "mallory", "this is not sdp")
        await sfu.leave(MEETING, "mallory")

        await _join(sfu, bob)
        await _wait_for(lambda: "audio" in bob.received.get("alice", {}))
        pcm = await _audio_from(bob, "alice", packets=25)
        assert np.abs(pcm).max() > 0.1
    finally:
        await sfu.close()
        await alice.close()
        await bob.close()


async def test_receive_policy_filters_publishers() -> None:
    sfu = Sfu()
    alice, bob = Participant("alice"), Participant("bob")
    listener = Participant("recorder", tone=None, video=False)
    allowed = {"alice"}
    try:
        await _join(sfu, alice)
        await _join(sfu, bob)

        async def on_offer(sdp: str, publish: dict, tracks: dict) -> None:
            await listener.on_offer(sdp, publish, tracks)
            await sfu.answer(MEETING, "recorder", await listener.next_answer())

        await sfu.join(MEETING, "recorder", on_offer=on_offer, publishes=False,
                       receives=lambda publisher: publisher in allowed)
        await _wait_for(lambda: "audio" in listener.received.get("alice", {}))
        await asyncio.sleep(0.5)
        assert "bob" not in listener.tracks.values()

        allowed.add("bob")
        sfu.refresh_subscriptions(MEETING, "recorder")
        await _wait_for(lambda: "audio" in listener.received.get("bob", {}))
    finally:
        await sfu.close()
        for participant in (alice, bob, listener):
            await participant.close()
