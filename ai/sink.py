"""The embedded default: the recorder's audio tap feeding an engine in this process.

``EngineSink`` is the in-process twin of ``ai.client.TranscriberClient``: the same
``recorder.tap.TranscriptionSink`` interface and the same caption params
(``TranscriptUpdate`` plus ``meetingId`` and ``streamId``), without the WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import numpy as np

from ai import protocol
from ai.client import CaptionCallback
from ai.engine import TranscriptionEngine
from ai.exceptions import TranscriptionError
from ai.protocol import StreamHeader
from ai.stream import SpeechStream
from recorder.tap import SpeakerStream, TranscriptionSink

logger = logging.getLogger(__name__)


class LocalSpeakerStream(SpeakerStream):
    """One participant's audio straight into an engine stream."""

    def __init__(self, sink: EngineSink, *, meeting_id: str, participant_id: str,
                 speaker_name: str) -> None:
        self._sink = sink
        self._identity = (meeting_id, participant_id, speaker_name)
        self._stream: SpeechStream | None = None
        self._header: StreamHeader | None = None
        self.task: asyncio.Task[None] | None = None

    def push(self, pcm: np.ndarray, meeting_ms: int) -> None:
        try:
            if self._stream is None:
                self._start(meeting_ms)
            assert self._stream is not None
            self._stream.push_audio(pcm, meeting_ms)
        except TranscriptionError as exc:
            logger.warning("meeting %s: %s is not transcribed: %s", self._identity[0],
                           self._identity[1], exc)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.end_input()

    def _start(self, meeting_ms: int) -> None:
        meeting_id, participant_id, speaker_name = self._identity
        header = StreamHeader(stream_id=uuid.uuid4().hex[:12], meeting_id=meeting_id,
                              participant_id=participant_id, speaker_name=speaker_name,
                              start_ms=meeting_ms)
        self._stream = self._sink.engine.stream(
            f"{meeting_id}:{header.stream_id}", start_ms=meeting_ms,
            segment_prefix=header.stream_id)
        self._header = header
        self.task = asyncio.get_running_loop().create_task(
            self._captions(), name=f"captions {meeting_id}/{participant_id}")

    async def _captions(self) -> None:
        assert self._stream is not None and self._header is not None
        async for event in self._stream:
            await self._sink.deliver(protocol.transcript_update(self._header, event))

    async def aclose(self, timeout: float) -> None:
        self.close()
        if self.task is None:
            return
        try:
            await asyncio.wait_for(self.task, timeout)
        except TimeoutError:
            logger.warning("meeting %s: last captions of %s not ready in time",
                           self._identity[0], self._identity[1])
        if self._stream is not None:
            await self._stream.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class EngineSink(TranscriptionSink):
    """Opens an engine stream for each participant the recorder taps."""

    def __init__(self, engine: TranscriptionEngine, on_caption: CaptionCallback) -> None:
        self.engine = engine
        self._on_caption = on_caption
        self.streams: list[LocalSpeakerStream] = []

    def open_stream(self, *, meeting_id: str, participant_id: str, speaker_name: str
                    ) -> SpeakerStream:
        stream = LocalSpeakerStream(self, meeting_id=meeting_id, participant_id=participant_id,
                                    speaker_name=speaker_name)
        self.streams.append(stream)
        return stream

    async def deliver(self, caption: dict[str, Any]) -> None:
        try:
            await self._on_caption(caption)
        except Exception:
            logger.exception("meeting %s: delivering a caption failed", caption.get("meetingId"))

    async def aclose(self, timeout: float = 60.0) -> None:
        """End every stream and wait (up to ``timeout`` each) for their last finals."""
        for stream in self.streams:
            await stream.aclose(timeout)
        self.streams.clear()
