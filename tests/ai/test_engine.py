"""The streaming engine on the real model and real speech."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from ai.engine import TranscriptionEngine
from ai.events import CaptionEvent
from ai.exceptions import StreamClosedError
from ai.sink import EngineSink
from ai.wer import wer
from tests.ai.conftest import (
    JFK_TEXT,
    LEFT_TEXT,
    RIGHT_TEXT,
    collect,
    feed,
    final_text,
    jfk,
    stereo_channels,
)

pytestmark = [pytest.mark.anyio, pytest.mark.model]


def assert_well_formed(events: list[CaptionEvent]) -> None:
    """Each segment id: partials, then at most one final, never anything after it."""
    finished: set[str] = set()
    for event in events:
        assert event.segment_id not in finished, f"{event} after its final"
        assert event.start <= event.end
        if event.final:
            finished.add(event.segment_id)
    finals = [event for event in events if event.final and event.text]
    assert all(a.start <= b.start for a, b in itertools.pairwise(finals))


async def test_jfk_streamed_in_frames_matches_the_reference(
        engine: TranscriptionEngine) -> None:
    stream = engine.stream("jfk", start_ms=60_000)
    feeding = asyncio.create_task(feed(stream, jfk(), chunk=0.1, speed=4))
    events = await collect(stream)
    await feeding
    assert wer(JFK_TEXT, final_text(events)) < 0.15, final_text(events)
    assert any(not event.final for event in events), "no partial captions"
    assert_well_formed(events)
    spoken = [event for event in events if event.text]
    assert 60.0 <= spoken[0].start < 61.0  # the meeting clock: speech starts 0.3 s in
    assert spoken[-1].end <= 71.5
    assert engine.stats().streams == 0


async def test_each_channel_of_two_talking_at_once_is_its_own_sentence(
        engine: TranscriptionEngine) -> None:
    left, right = stereo_channels()
    streams = [engine.stream("left"), engine.stream("right")]
    feeding = [asyncio.create_task(feed(s, a, chunk=0.02, speed=4))
               for s, a in zip(streams, (left, right), strict=True)]
    results = await asyncio.gather(*(collect(s) for s in streams))
    await asyncio.gather(*feeding)
    for events, reference in zip(results, (LEFT_TEXT, RIGHT_TEXT), strict=True):
        assert wer(reference, final_text(events)) < 0.15, final_text(events)
        assert all(event.stream in ("left", "right") for event in events)
        assert_well_formed(events)


def _noises() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    seconds = 60
    t = np.arange(seconds * 16000) / 16000
    white = rng.standard_normal(len(t)).astype(np.float32) * 0.3
    brown = np.cumsum(rng.standard_normal(len(t))).astype(np.float32)
    brown = (brown - np.convolve(brown, np.ones(1600) / 1600, "same")) * 0.02
    notes = 220 * 2 ** (rng.integers(0, 12, seconds * 2) / 12)  # a tune of half-second notes
    tune = np.sin(2 * np.pi * np.repeat(notes, 8000) * t) * 0.3
    return {"silence": np.zeros(len(t), np.float32), "white noise": white,
            "brown noise": brown.astype(np.float32), "tune": tune.astype(np.float32)}


@pytest.mark.parametrize("kind", ["silence", "white noise", "brown noise", "tune"])
async def test_a_minute_without_speech_gives_no_caption_text(
        engine: TranscriptionEngine, kind: str) -> None:
    audio = _noises()[kind]
    stream = engine.stream(kind)
    feeding = asyncio.create_task(feed(stream, audio, chunk=0.5, speed=30))
    events = await collect(stream)
    await feeding
    assert [event.text for event in events if event.text] == []


async def test_four_streams_at_once_lose_no_final(engine: TranscriptionEngine) -> None:
    """Fed as fast as frames come, four streams overload two cores: partials give way,
    every utterance still gets its final, and the backlog drains."""
    left, right = stereo_channels()
    clips = {"a": (left, LEFT_TEXT), "b": (right, RIGHT_TEXT), "c": (jfk(), JFK_TEXT),
             "d": (right, RIGHT_TEXT)}
    streams = {key: engine.stream(key) for key in clips}
    feeding = [asyncio.create_task(feed(streams[key], audio, chunk=0.1, speed=20))
               for key, (audio, _) in clips.items()]
    await asyncio.gather(*feeding)
    assert engine.stats().finals_pending + engine.stats().partials_due >= 1
    results = await asyncio.gather(*(collect(s) for s in streams.values()))
    for events, (_, reference) in zip(results, clips.values(), strict=True):
        assert wer(reference, final_text(events)) < 0.15, final_text(events)
    stats = engine.stats()
    assert (stats.streams, stats.finals_pending, stats.partials_due) == (0, 0, 0)
    assert stats.batches < stats.decodes  # streams shared inference calls


async def test_flush_commits_and_closed_streams_refuse_audio(
        engine: TranscriptionEngine) -> None:
    stream = engine.stream("s")
    audio = jfk()[: 16000 * 3]  # "And so my fellow Americans", no pause yet
    for start in range(0, len(audio), 1600):
        stream.push_audio(audio[start:start + 1600])
    stream.flush()
    event = await asyncio.wait_for(anext(aiter(stream)), 30)
    while not event.final:
        event = await asyncio.wait_for(anext(aiter(stream)), 30)
    assert "fellow" in event.text.lower()
    stream.end_input()
    with pytest.raises(StreamClosedError):
        stream.push_audio(audio)
    await stream.aclose()
    await stream.aclose()


async def test_a_jump_in_the_meeting_clock_moves_the_captions(
        engine: TranscriptionEngine) -> None:
    stream = engine.stream("gap", start_ms=0)
    silence = np.zeros(16000, np.float32)
    stream.push_audio(silence, meeting_ms=0)
    stream.push_audio(silence, meeting_ms=30_000)  # 29 s of the track were lost
    feeding = asyncio.create_task(feed(stream, jfk(), chunk=0.25, speed=8))
    events = await collect(stream)
    await feeding
    spoken = [event for event in events if event.text]
    assert 31.0 <= spoken[0].start < 31.6


async def test_the_in_process_sink_gives_the_same_captions_as_the_worker(
        engine: TranscriptionEngine) -> None:
    captions: list[dict[str, object]] = []

    async def on_caption(caption: dict[str, object]) -> None:
        captions.append(caption)

    sink = EngineSink(engine, on_caption)
    _, right = stereo_channels()
    stream = sink.open_stream(meeting_id="m-3", participant_id="p-r", speaker_name="Right")
    pcm = (np.concatenate([right, np.zeros(16000, np.float32)]) * 32767).astype(np.int16)
    for i, start in enumerate(range(0, len(pcm), 320)):  # 20 ms frames, as the tap pushes
        stream.push(pcm[start:start + 320], 7000 + i * 20)
        if i % 25 == 0:
            await asyncio.sleep(0.05)
    await sink.aclose(timeout=60)
    finals = " ".join(str(c["text"]) for c in captions if c["final"])
    assert wer(RIGHT_TEXT, finals) < 0.15, finals
    assert {(c["meetingId"], c["participantId"], c["speakerName"]) for c in captions} == {
        ("m-3", "p-r", "Right")}
    assert all(float(str(c["start"])) >= 7.0 for c in captions)
