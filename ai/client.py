"""The recorder's side of the transcription protocol.

``TranscriberClient`` is a ``recorder.tap.TranscriptionSink``: each participant's tapped
audio becomes one WebSocket stream to the worker (``workers/transcriber.py``), and each
caption coming back is handed to ``on_caption`` as ``TranscriptUpdate`` params
(``ai.protocol.transcript_update``), ready to relay to the meeting's clients.

``push`` is called on the event loop for every decoded frame and never waits: frames go
into a queue that the stream's own task sends. The stream connects at its first frame
(the header needs that frame's meeting time); if the worker cannot be reached, the audio
is dropped (live captions cannot wait) and the stream retries with a fresh stream id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from ai import protocol
from ai.protocol import StreamHeader
from recorder.tap import SpeakerStream, TranscriptionSink

logger = logging.getLogger(__name__)

CaptionCallback = Callable[[dict[str, Any]], Awaitable[None]]
CLOCK_TOLERANCE_MS = 250
MAX_QUEUED_FRAMES = 3000  # about 60 s of 20 ms frames
END_TIMEOUT = 60.0
RETRY_SECONDS = 2.0

_END = object()


class RemoteSpeakerStream(SpeakerStream):
    """One participant's audio to the worker; its task owns the connection."""

    def __init__(self, client: TranscriberClient, *, meeting_id: str, participant_id: str,
                 speaker_name: str) -> None:
        self._client = client
        self.meeting_id = meeting_id
        self.participant_id = participant_id
        self.speaker_name = speaker_name
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._next_ms: float | None = None
        self._ended = False
        self.dropped_frames = 0
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"transcribe {meeting_id}/{participant_id}")

    def push(self, pcm: np.ndarray, meeting_ms: int) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= MAX_QUEUED_FRAMES:
            self.dropped_frames += 1
            return
        self._queue.put_nowait((np.ascontiguousarray(pcm, dtype="<i2").tobytes(), meeting_ms))

    def close(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(_END)

    async def _run(self) -> None:
        """Connect, send, reconnect: until ``close()``'s end marker is sent."""
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            assert isinstance(item, tuple)
            try:
                await self._session(item)
                return
            except (OSError, WebSocketException, TimeoutError) as exc:
                logger.warning("meeting %s: transcription of %s interrupted (%s); retrying",
                               self.meeting_id, self.participant_id, exc)
                await asyncio.sleep(RETRY_SECONDS)
                self._drain()

    def _drain(self) -> None:
        """Audio queued while the worker was unreachable is too old for live captions."""
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _END:
                self._queue.put_nowait(_END)
                return
            self.dropped_frames += 1

    async def _session(self, first: tuple[bytes, int]) -> None:
        header = StreamHeader(
            stream_id=uuid.uuid4().hex[:12], meeting_id=self.meeting_id,
            participant_id=self.participant_id, speaker_name=self.speaker_name,
            start_ms=first[1])
        async with connect(self._client.url, open_timeout=10,
                           max_size=protocol.MAX_TEXT_BYTES * 4) as connection:
            await connection.send(protocol.request("StartStream", header.to_params(), 1))
            receiver = asyncio.get_running_loop().create_task(self._receive(connection))
            try:
                self._next_ms = None
                await self._send_audio(connection, first)
                while (item := await self._queue.get()) is not _END:
                    assert isinstance(item, tuple)
                    await self._send_audio(connection, item)
                await connection.send(protocol.request("EndStream", {}, 2))
                await asyncio.wait_for(asyncio.shield(receiver), END_TIMEOUT)
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await receiver

    async def _send_audio(self, connection: ClientConnection, item: tuple[bytes, int]) -> None:
        data, meeting_ms = item
        if self._next_ms is not None and abs(meeting_ms - self._next_ms) > CLOCK_TOLERANCE_MS:
            await connection.send(protocol.notification("SetClock", {"meetingMs": meeting_ms}))
        else:
            meeting_ms = round(self._next_ms) if self._next_ms is not None else meeting_ms
        self._next_ms = meeting_ms + len(data) / 2 / protocol.SAMPLE_RATE * 1000
        await connection.send(data)

    async def _receive(self, connection: ClientConnection) -> None:
        """Captions to ``on_caption`` until the worker answers EndStream and closes."""
        async for message in connection:
            if isinstance(message, bytes):
                continue
            data = json.loads(message)
            if data.get("method") == "TranscriptUpdate":
                await self._client.deliver(data["params"])
            elif "error" in data:
                logger.warning("meeting %s: transcriber says %s", self.meeting_id,
                               data["error"].get("message"))


class TranscriberClient(TranscriptionSink):
    """Opens a worker stream for each participant the recorder taps."""

    def __init__(self, url: str, on_caption: CaptionCallback) -> None:
        self.url = url
        self._on_caption = on_caption
        self.streams: list[RemoteSpeakerStream] = []

    def open_stream(self, *, meeting_id: str, participant_id: str, speaker_name: str
                    ) -> SpeakerStream:
        stream = RemoteSpeakerStream(self, meeting_id=meeting_id,
                                     participant_id=participant_id, speaker_name=speaker_name)
        self.streams.append(stream)
        return stream

    async def deliver(self, caption: dict[str, Any]) -> None:
        try:
            await self._on_caption(caption)
        except Exception:
            logger.exception("meeting %s: delivering a caption failed", caption.get("meetingId"))

    async def aclose(self, timeout: float = END_TIMEOUT) -> None:
        """End every stream, wait for their last finals (up to ``timeout``)."""
        for stream in self.streams:
            stream.close()
        tasks = [stream.task for stream in self.streams]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                logger.error("a transcription stream failed: %r", outcome)
        self.streams.clear()
