"""The signaling WebSocket against a real server: bad input never hurts a meeting."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from app.config import Settings
from app.models import Role
from app.security import issue_join_token
from recorder.signaling import SignalingClient, SignalingError
from tests.app.conftest import Account, create_meeting, join

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _ws(server: str) -> str:
    return server.replace("http", "ws", 1) + "/v1/signal"


@pytest.fixture
def meeting(http: httpx.Client, host: Account) -> dict:
    return create_meeting(http, host, max_participants=3)


async def _client(server: str, token: str) -> SignalingClient:
    client = SignalingClient(_ws(server), token, keepalive_seconds=1)
    await client.connect()
    return client


async def _next(client: SignalingClient, method: str, timeout: float = 5) -> dict:
    async def find() -> dict:
        async for event in client.events():
            if event["method"] == method:
                return event["params"]
        raise AssertionError(f"connection closed before {method}")

    return await asyncio.wait_for(find(), timeout)


@pytest.fixture
async def pair(server: str, http: httpx.Client, meeting: dict
               ) -> AsyncIterator[tuple[SignalingClient, SignalingClient, dict, dict]]:
    first = join(http, meeting["id"], display_name="Ann").json()
    second = join(http, meeting["id"], display_name="Ben").json()
    ann, ben = await _client(server, first["token"]), await _client(server, second["token"])
    await ann.request("JoinRoom", {"roomId": meeting["id"]})
    await ben.request("JoinRoom", {"roomId": meeting["id"]})
    yield ann, ben, first, second
    await ann.aclose()
    await ben.aclose()


async def test_events_flow_between_participants(pair) -> None:
    ann, ben, _first, second = pair
    offer = await _next(ann, "ReceiveOffer")
    assert offer["sdp"].startswith("v=0") and set(offer["publish"]) == {"audio", "video"}
    joined = await _next(ann, "ParticipantJoined")
    assert joined["userId"] == second["participant"]["id"] and joined["displayName"] == "Ben"

    await ben.request("UpdateState", {"isMuted": True})
    changed = await _next(ann, "StateChanged")
    assert changed == {**changed, "userId": second["participant"]["id"], "isMuted": True}

    await ann.request("SendChatMessage", {"text": "hello"})
    message = await _next(ben, "ChatMessage")
    assert message["text"] == "hello" and message["senderName"] == "Ann"

    await ann.request("SendChatMessage", {"text": "psst", "to": second["participant"]["id"]})
    private = await _next(ben, "ChatMessage")
    assert private["isPrivate"] is True and private["text"] == "psst"

    await ben.request("LeaveRoom")
    left = await _next(ann, "ParticipantLeft")
    assert left["userId"] == second["participant"]["id"]


async def test_chat_is_replayed_to_late_joiners(server: str, http: httpx.Client, pair,
                                                meeting: dict) -> None:
    ann, _, _, _ = pair
    for i in range(3):
        await ann.request("SendChatMessage", {"text": f"m{i}"})
    late = join(http, meeting["id"], display_name="Cat").json()
    cat = await _client(server, late["token"])
    try:
        room = await cat.request("JoinRoom", {})
        assert [m["text"] for m in room["chat"]] == ["m0", "m1", "m2"]
        assert {p["displayName"] for p in room["participants"]} == {"Ann", "Ben", "Cat"}
    finally:
        await cat.aclose()


GARBAGE = [
    "not json at all",
    "[]",
    "{}",
    '{"jsonrpc": "2.0", "id": 1, "method": "Explode"}',
    '{"jsonrpc": "2.0", "id": 2, "method": "SendAnswer", "params": {"sdp": "nonsense"}}',
    '{"jsonrpc": "2.0", "id": 3, "method": "SendIceCandidate", '
    '"params": {"candidate": {"candidate": "candidate:x", "sdpMid": "0"}}}',
    '{"jsonrpc": "2.0", "id": 4, "method": "UpdateState", "params": {"isMuted": "very"}}',
    '{"jsonrpc": "2.0", "id": 5, "method": "JoinRoom"}',
    '{"jsonrpc": "2.0", "id": 6, "method": "SendOffer", "params": {"sdp": "v=0"}}',
    json.dumps({"jsonrpc": "2.0", "id": 7, "method": "SendChatMessage",
                "params": {"text": "x" * 70_000}}),
    b"\x00\xff binary",
]


async def test_garbage_gets_errors_and_the_meeting_goes_on(server: str, pair) -> None:
    _ann, ben, first, _ = pair
    async with websockets.connect(f"{_ws(server)}?token={first['token']}") as raw:
        # the same participant on a second connection replaces the first ...
        await raw.send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "JoinRoom"}))
        assert "result" in json.loads(await raw.recv())
        codes = []
        for message in GARBAGE:
            await raw.send(message)
            reply = json.loads(await asyncio.wait_for(raw.recv(), 5))
            while "error" not in reply:
                reply = json.loads(await asyncio.wait_for(raw.recv(), 5))
            codes.append(reply["error"]["code"])
        assert codes == [-32700, -32600, -32600, -32601, -32005, -32602, -32602, -32600,
                         -32005, -32003, -32700]
        # ... and it still works on the new connection
        await raw.send(json.dumps({"jsonrpc": "2.0", "id": 99, "method": "SendChatMessage",
                                   "params": {"text": "still here"}}))
        message = await _next(ben, "ChatMessage")
        assert message["text"] == "still here"
    # the other participant was never disturbed
    await ben.request("UpdateState", {"isVideoOn": False})
    assert (await ben.request("KeepAlive")) == {}


async def test_methods_before_join_are_refused(server: str, http: httpx.Client,
                                               meeting: dict) -> None:
    token = join(http, meeting["id"]).json()["token"]
    client = await _client(server, token)
    try:
        with pytest.raises(SignalingError) as error:
            await client.request("SendChatMessage", {"text": "early"})
        assert error.value.code == -32001
        with pytest.raises(SignalingError) as wrong_room:
            await client.request("JoinRoom", {"roomId": str(uuid.uuid4())})
        assert wrong_room.value.code == -32002
    finally:
        await client.aclose()


async def _close_code(url: str) -> int | None:
    async with websockets.connect(url) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code


async def test_bad_tokens_and_ended_meetings_are_closed(
        server: str, http: httpx.Client, host: Account, meeting: dict, settings: Settings
) -> None:
    assert await _close_code(_ws(server)) == 4001
    assert await _close_code(f"{_ws(server)}?token=garbage") == 4001
    expired, _ = issue_join_token(settings, meeting_id=uuid.UUID(meeting["id"]),
                                  participant_id=uuid.uuid4(), user_id=None,
                                  role=Role.participant, display_name="x",
                                  now=time.time() - 3600)
    assert await _close_code(f"{_ws(server)}?token={expired}") == 4001
    token = join(http, meeting["id"]).json()["token"]
    http.post(f"/v1/meetings/{meeting['id']}/end", headers=host.headers).raise_for_status()
    assert await _close_code(f"{_ws(server)}?token={token}") == 4004


async def test_reconnect_within_grace_keeps_the_place(server: str, http: httpx.Client,
                                                      pair, meeting: dict) -> None:
    ann, ben, first, _ = pair
    await ann.aclose()
    await asyncio.sleep(0.3)
    again = await _client(server, first["token"])
    try:
        room = await again.request("JoinRoom", {})
        assert room["participantId"] == first["participant"]["id"]
        assert [p["displayName"] for p in room["participants"]].count("Ann") == 1
        # ben never saw Ann leave
        with pytest.raises(TimeoutError):
            await _next(ben, "ParticipantLeft", timeout=0.5)
    finally:
        await again.aclose()


async def test_quality_is_for_the_host(server: str, http: httpx.Client, host: Account,
                                       pair, meeting: dict) -> None:
    quality = http.get(f"/v1/meetings/{meeting['id']}/quality", headers=host.headers)
    assert quality.status_code == 200
    assert len(quality.json()["participants"]) == 2
    token = pair[2]["token"]
    assert http.get(f"/v1/meetings/{meeting['id']}/quality",
                    headers={"Authorization": f"Bearer {token}"}).status_code == 401


async def test_ending_the_meeting_closes_everyone(server: str, http: httpx.Client,
                                                  host: Account, pair, meeting: dict) -> None:
    ann, ben, _, _ = pair
    ended = await asyncio.to_thread(
        http.post, f"/v1/meetings/{meeting['id']}/end", headers=host.headers)
    assert ended.status_code == 200
    assert (await _next(ann, "MeetingEnded"))["meetingId"] == meeting["id"]
    await _next(ben, "MeetingEnded")
    for client in (ann, ben):
        async for _ in client.events():
            pass
        assert client.close_code == 4004
