"""The transcription worker over a real WebSocket on loopback, and the recorder's client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ai import protocol
from ai.client import TranscriberClient
from ai.engine import TranscriptionEngine
from ai.wer import wer
from tests.ai.conftest import LEFT_TEXT, RIGHT_TEXT, pcm16, stereo_channels
from workers.transcriber import start_server

pytestmark = [pytest.mark.anyio, pytest.mark.model]

HEADER = {"streamId": "alice-1", "meetingId": "m-1", "participantId": "p-alice",
          "speakerName": "Alice", "startMs": 5000, "sampleRate": 16000}


@pytest.fixture
async def worker_url(engine: TranscriptionEngine) -> AsyncIterator[str]:
    server = await start_server(engine, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}{protocol.PATH}"
    server.close()
    await server.wait_closed()


async def call(ws: ClientConnection, method: str, params: dict[str, Any], ident: int
               ) -> dict[str, Any]:
    await ws.send(protocol.request(method, params, ident))
    return await reply(ws)


async def reply(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is not a caption."""
    while True:
        data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if data.get("method") != "TranscriptUpdate":
            return data


async def stream_clip(ws: ClientConnection, audio: np.ndarray) -> list[dict[str, Any]]:
    """Send a clip in 20 ms frames (faster than real time), end, gather the captions."""
    frames = pcm16(np.concatenate([audio, np.zeros(16000, np.float32)])).tobytes()
    for start in range(0, len(frames), 640):
        await ws.send(frames[start:start + 640])
        if start % 6400 == 0:
            await asyncio.sleep(0.02)
    await ws.send(protocol.request("EndStream", {}, 99))
    captions = []
    async with asyncio.timeout(60):
        async for message in ws:
            data = json.loads(message)
            if data.get("method") == "TranscriptUpdate":
                captions.append(data["params"])
            else:
                assert data == {"jsonrpc": "2.0", "id": 99,
                                "result": {"finals": sum(c["final"] for c in captions)}}
    assert ws.close_code == 1000
    return captions


async def test_a_stream_gets_speaker_attributed_captions(worker_url: str) -> None:
    left, _ = stereo_channels()
    async with connect(worker_url) as ws:
        assert await call(ws, "StartStream", HEADER, 1) == {
            "jsonrpc": "2.0", "id": 1, "result": {"streamId": "alice-1"}}
        captions = await stream_clip(ws, left)
    finals = [c for c in captions if c["final"] and c["text"]]
    assert wer(LEFT_TEXT, " ".join(c["text"] for c in finals)) < 0.15
    for caption in captions:
        assert (caption["meetingId"], caption["participantId"], caption["speakerName"],
                caption["streamId"]) == ("m-1", "p-alice", "Alice", "alice-1")
        assert caption["segmentId"].startswith("alice-1-")
        assert 5.0 <= caption["start"] <= caption["end"] <= 11.0  # meeting clock


async def test_bad_input_gets_json_rpc_errors_and_the_worker_carries_on(
        worker_url: str) -> None:
    async with connect(worker_url) as ws:
        async def error_code(message: str | bytes) -> int:
            await ws.send(message)
            data = await reply(ws)
            assert data["jsonrpc"] == "2.0" and "id" in data, data
            return int(data["error"]["code"])

        assert await error_code(b"\x00\x01") == protocol.NOT_STARTED  # audio before header
        assert await error_code("{not json") == protocol.PARSE_ERROR
        assert await error_code('{"jsonrpc": "1.0", "method": "StartStream"}') == \
            protocol.INVALID_REQUEST
        assert await error_code(protocol.request("StartStream", {**HEADER, "sampleRate": 8000},
                                                 1)) == protocol.INVALID_PARAMS
        assert await error_code(protocol.request("StartStream", {"streamId": "x"}, 2)) == \
            protocol.INVALID_PARAMS
        assert await error_code(protocol.request("Dance", {}, 3)) == protocol.METHOD_NOT_FOUND
        assert await error_code(protocol.notification("Flush", {})) == protocol.NOT_STARTED
        # the same connection can still start its stream
        assert "result" in await call(ws, "StartStream", HEADER, 4)
        assert await error_code(protocol.request("StartStream", HEADER, 5)) == \
            protocol.INVALID_REQUEST
        assert await error_code(b"\x00\x01\x02") == protocol.BAD_AUDIO  # half a sample
        assert await error_code(protocol.notification("SetClock", {"meetingMs": "soon"})) == \
            protocol.INVALID_PARAMS
        stats = await call(ws, "GetStats", {}, 6)
        assert stats["result"]["streams"] >= 1
        _, right = stereo_channels()
        captions = await stream_clip(ws, right)  # and transcribes as if nothing happened
    assert wer(RIGHT_TEXT, " ".join(c["text"] for c in captions if c["final"])) < 0.15


async def test_a_peer_that_only_sends_garbage_is_disconnected(worker_url: str) -> None:
    async with connect(worker_url) as ws:
        for _ in range(100):
            await ws.send("garbage")
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        assert ws.close_code == 4008
    async with connect(worker_url) as ws:  # the worker still serves others
        assert "result" in await call(ws, "StartStream", HEADER, 1)


async def test_health_and_unknown_paths(worker_url: str) -> None:
    base = worker_url.replace("ws://", "http://").removesuffix(protocol.PATH)
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200
        assert (await client.get(f"{base}/elsewhere")).status_code == 404


async def test_the_recorder_client_streams_two_speakers(worker_url: str) -> None:
    captions: list[dict[str, Any]] = []

    async def on_caption(caption: dict[str, Any]) -> None:
        captions.append(caption)

    client = TranscriberClient(worker_url, on_caption)
    left, right = stereo_channels()
    speakers = {"Left": (left, LEFT_TEXT), "Right": (right, RIGHT_TEXT)}
    streams = {name: client.open_stream(meeting_id="m-2", participant_id=f"p-{name}",
                                        speaker_name=name) for name in speakers}
    for name, (audio, _) in speakers.items():
        pcm = pcm16(np.concatenate([audio, np.zeros(16000, np.float32)]))
        for i, start in enumerate(range(0, len(pcm), 320)):  # 20 ms, as the tap pushes
            streams[name].push(pcm[start:start + 320], 2000 + i * 20)
        await asyncio.sleep(0.1)
    await client.aclose(timeout=60)
    for name, (_, reference) in speakers.items():
        mine = [c for c in captions if c["speakerName"] == name]
        assert {c["participantId"] for c in mine} == {f"p-{name}"}
        assert wer(reference, " ".join(c["text"] for c in mine if c["final"])) < 0.15
        assert all(c["start"] >= 2.0 for c in mine)
