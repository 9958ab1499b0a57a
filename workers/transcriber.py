"""The transcription worker process (``verbatim transcriber``).

A WebSocket server on ``VERBATIM_TRANSCRIBER_HOST:PORT`` at ``/v1/transcribe``: one
connection per speaker stream, audio in, captions out, one shared Whisper model
(``ai.TranscriptionEngine``). The protocol is in ``docs/transcription.md``; its messages
are in ``ai.protocol``. ``GET /healthz`` answers 200 while the worker runs.

A peer's mistakes (bad JSON, a bad header, an odd-sized frame) are answered with a
JSON-RPC error object and never reach the engine or the other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from http import HTTPStatus
from itertools import count

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ai import protocol
from ai.engine import TranscriptionEngine
from ai.exceptions import CapacityError, ProtocolError, StreamClosedError
from ai.protocol import Message, StreamHeader
from ai.stream import SpeechStream
from app.config import Settings

logger = logging.getLogger(__name__)

MAX_BAD_MESSAGES = 100  # in a row; then the connection is closed with 4008
CLOSE_BAD_PEER = 4008


class StreamSession:
    """One connection: its header, its engine stream and the task sending captions."""

    _keys = count()

    def __init__(self, engine: TranscriptionEngine, connection: ServerConnection) -> None:
        self.engine = engine
        self.connection = connection
        self.header: StreamHeader | None = None
        self.stream: SpeechStream | None = None
        self._captions: asyncio.Task[None] | None = None
        self._end_request: list[int | str | None] = []
        self._bad = 0
        self.sent = 0

    async def run(self) -> None:
        try:
            async for message in self.connection:
                await self._receive(message)
                if self._bad >= MAX_BAD_MESSAGES:
                    await self.connection.close(CLOSE_BAD_PEER, "too many bad messages")
                    break
        except ConnectionClosed:
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()
        if self._captions is not None:
            self._captions.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._captions

    # --- incoming --------------------------------------------------------------------

    async def _receive(self, message: str | bytes) -> None:
        ident: int | str | None = None
        try:
            if isinstance(message, bytes):
                self._audio(message)
            else:
                parsed = protocol.parse(message)
                ident = parsed.id
                await self._dispatch(parsed)
            self._bad = 0
        except ProtocolError as exc:
            self._bad += 1
            await self._send(protocol.error(ident, exc.code, str(exc)))
        except CapacityError as exc:
            await self._send(protocol.error(ident, protocol.CAPACITY, str(exc), retryable=True))
        except StreamClosedError as exc:
            self._bad += 1
            await self._send(protocol.error(ident, protocol.STREAM_CLOSED, str(exc)))

    def _audio(self, frame: bytes) -> None:
        if self.stream is None:
            raise ProtocolError("send StartStream before audio", code=protocol.NOT_STARTED)
        if len(frame) % 2 or len(frame) > protocol.MAX_FRAME_BYTES:
            raise ProtocolError(f"a frame of {len(frame)} bytes: whole 16-bit samples, at "
                                f"most {protocol.MAX_FRAME_BYTES} bytes",
                                code=protocol.BAD_AUDIO)
        self.stream.push_audio(frame)

    async def _dispatch(self, message: Message) -> None:
        if message.method == "StartStream":
            await self._start(message)
            return
        if message.method == "GetStats":
            stats = dataclasses.asdict(self.engine.stats())
            await self._send(protocol.result(message.id, stats))
            return
        if message.method not in ("SetClock", "Flush", "EndStream"):
            raise ProtocolError(f"unknown method {message.method!r}",
                                code=protocol.METHOD_NOT_FOUND)
        if self.stream is None:
            raise ProtocolError("send StartStream first", code=protocol.NOT_STARTED)
        if message.method == "SetClock":
            meeting_ms = message.params.get("meetingMs")
            if isinstance(meeting_ms, bool) or not isinstance(meeting_ms, int):
                raise ProtocolError("meetingMs: an integer", code=protocol.INVALID_PARAMS)
            self.stream.push_audio(b"", meeting_ms)
        elif message.method == "Flush":
            self.stream.flush()
        else:
            self._end_request.append(message.id)
            self.stream.end_input()
        if message.id is not None and message.method != "EndStream":
            await self._send(protocol.result(message.id, {}))

    async def _start(self, message: Message) -> None:
        if self.stream is not None:
            raise ProtocolError("StartStream was already sent on this connection")
        header = StreamHeader.from_params(message.params)
        key = f"{next(self._keys)}:{header.meeting_id}:{header.stream_id}"
        self.stream = self.engine.stream(key, start_ms=header.start_ms,
                                         segment_prefix=header.stream_id)
        self.header = header
        self._captions = asyncio.get_running_loop().create_task(
            self._send_captions(), name=f"captions {header.stream_id}")
        logger.info("meeting %s: stream %s of %s (%s) started at %d ms", header.meeting_id,
                    header.stream_id, header.participant_id, header.speaker_name,
                    header.start_ms)
        if message.id is not None:
            await self._send(protocol.result(message.id, {"streamId": header.stream_id}))

    # --- outgoing --------------------------------------------------------------------

    async def _send_captions(self) -> None:
        assert self.stream is not None and self.header is not None
        try:
            async for event in self.stream:
                await self._send(protocol.notification(
                    "TranscriptUpdate", protocol.transcript_update(self.header, event)))
                self.sent += event.final
            for ident in self._end_request:
                await self._send(protocol.result(ident, {"finals": self.sent}))
            if self._end_request:
                await self.connection.close(1000, "stream ended")
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("stream %s: sending captions failed", self.header.stream_id)

    async def _send(self, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.connection.send(text)


def _process_request(connection: ServerConnection, request: Request) -> Response | None:
    path = request.path.split("?", 1)[0]
    if path == "/healthz":
        return connection.respond(HTTPStatus.OK, "ok\n")
    if path != protocol.PATH:
        return Response(HTTPStatus.NOT_FOUND, "Not Found", Headers(), b"not found\n")
    return None


async def start_server(engine: TranscriptionEngine, host: str, port: int) -> Server:
    """Serve ``engine`` on ``host:port`` (port 0: any free port; see ``server.sockets``)."""

    async def handler(connection: ServerConnection) -> None:
        session = StreamSession(engine, connection)
        await session.run()

    return await serve(handler, host, port, process_request=_process_request,
                       max_size=protocol.MAX_FRAME_BYTES * 2)


async def serve_transcriber(settings: Settings, stop: asyncio.Event) -> None:
    """Load the model, serve until ``stop`` is set, then close everything."""
    engine = await TranscriptionEngine.from_settings(settings)
    try:
        server = await start_server(engine, settings.transcriber_host, settings.transcriber_port)
        logger.info("transcriber listening on %s:%d%s", settings.transcriber_host,
                    settings.transcriber_port, protocol.PATH)
        async with server:
            await stop.wait()
            server.close()
            await server.wait_closed()
    finally:
        await engine.aclose()


def run_transcriber(settings: Settings) -> None:
    """``verbatim transcriber``: run the worker until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_transcriber(settings, stop)

    asyncio.run(main())
