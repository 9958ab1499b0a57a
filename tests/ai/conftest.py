"""Fixtures for the transcription tests: the bundled model (loaded once), real clips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from faster_whisper import WhisperModel, decode_audio

from ai.engine import TranscriptionEngine
from ai.events import CaptionEvent
from ai.model import load_model
from ai.stream import SpeechStream
from app.config import Settings
from tests.conftest import SPEECH

JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.")
LEFT_TEXT = "He began a confused complaint against the wizard, who had vanished behind the " \
            "curtain on the left."
RIGHT_TEXT = "The horizon seems extremely distant."


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def whisper_model() -> WhisperModel:
    return load_model(Settings(whisper_cpu_threads=2))


@pytest.fixture
async def engine(whisper_model: WhisperModel) -> AsyncIterator[TranscriptionEngine]:
    engine = TranscriptionEngine(whisper_model, beam_size=5)
    yield engine
    await engine.aclose()


def jfk() -> np.ndarray:
    return decode_audio(str(SPEECH / "jfk.flac"))


def stereo_channels() -> tuple[np.ndarray, np.ndarray]:
    left, right = decode_audio(str(SPEECH / "stereo_diarization.wav"), split_stereo=True)
    return left, right


def pcm16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16)


async def feed(stream: SpeechStream, audio: np.ndarray, *, chunk: float = 0.1,
               speed: float = 4.0, trailing_silence: float = 1.0) -> None:
    """Push ``audio`` in ``chunk``-second frames at ``speed`` times real time, then end."""
    audio = np.concatenate([audio, np.zeros(int(trailing_silence * 16000), np.float32)])
    size = int(chunk * 16000)
    for start in range(0, len(audio), size):
        stream.push_audio(pcm16(audio[start:start + size]))
        await asyncio.sleep(chunk / speed if speed else 0)
    stream.end_input()


async def collect(stream: SpeechStream, timeout: float = 60.0) -> list[CaptionEvent]:
    events = []
    deadline = time.monotonic() + timeout
    async with asyncio.timeout_at(asyncio.get_running_loop().time() + timeout):
        async for event in stream:
            events.append(event)
    assert time.monotonic() <= deadline
    return events


def final_text(events: list[CaptionEvent]) -> str:
    return " ".join(event.text for event in events if event.final and event.text)
