"""The same tests against both room state implementations; Redis is the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.rooms import MemoryRoomState, ParticipantState, RedisRoomState, RoomFull, RoomState
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.anyio
TTL = 120


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def connect_redis() -> aioredis.Redis:
    """A flushed client on the test database, or a skip naming why (CI has Redis)."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    except (aioredis.ConnectionError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = await connect_redis()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def rooms(request: pytest.FixtureRequest) -> AsyncIterator[RoomState]:
    if request.param == "memory":
        state: RoomState = MemoryRoomState()
        yield state
        await state.aclose()
        await state.aclose()
        return
    client = await connect_redis()
    state = RedisRoomState(client, ttl_seconds=TTL)
    yield state
    await state.aclose()
    await state.aclose()
    await client.flushdb()
    await client.aclose()


def person(name: str, role: str = "participant", **fields: object) -> ParticipantState:
    return ParticipantState(user_id=name, display_name=name.title(), role=role,
                            connection_id=uuid.uuid4().hex, **fields)


def meeting() -> str:
    return uuid.uuid4().hex


async def test_join_update_leave(rooms: RoomState) -> None:
    m = meeting()
    await rooms.join(m, person("ann"), max_participants=5)
    await rooms.join(m, person("bob"), max_participants=5)
    await rooms.join(m, person("rec", role="recorder", hidden=True), max_participants=5)
    assert [p.user_id for p in await rooms.participants(m)] == ["ann", "bob", "rec"]
    assert await rooms.count(m) == 2

    muted = await rooms.update(m, "ann", is_muted=True, is_video_on=False)
    assert muted.is_muted and not muted.is_video_on
    assert (await rooms.get(m, "ann")) == muted

    assert (await rooms.leave(m, "ann")).user_id == "ann"
    assert await rooms.leave(m, "ann") is None
    assert await rooms.leave(m, "rec") is not None
    assert await rooms.count(m) == 1
    with pytest.raises(KeyError):
        await rooms.update(m, "ann", is_muted=False)


async def test_capacity_holds_under_concurrent_joins(rooms: RoomState) -> None:
    m = meeting()
    results = await asyncio.gather(
        *(rooms.join(m, person(f"p{i}"), max_participants=3) for i in range(10)),
        return_exceptions=True)
    assert sum(r is None for r in results) == 3
    assert all(isinstance(r, RoomFull) for r in results if r is not None)
    assert await rooms.count(m) == 3 and len(await rooms.participants(m)) == 3
    # the hidden recorder does not take a seat; a rejoin of someone present is not a new seat
    await rooms.join(m, person("rec", hidden=True), max_participants=3)
    present = (await rooms.participants(m))[0]
    await rooms.join(m, present, max_participants=3)
    assert await rooms.count(m) == 3


async def test_count_is_exact_after_concurrent_joins_and_leaves(rooms: RoomState) -> None:
    m = meeting()
    await asyncio.gather(*(rooms.join(m, person(f"p{i}"), max_participants=100)
                           for i in range(30)))
    await asyncio.gather(*(rooms.leave(m, f"p{i}") for i in range(0, 30, 2)))
    await asyncio.gather(*(rooms.leave(m, f"p{i}") for i in range(0, 30, 2)))  # twice
    assert await rooms.count(m) == 15


async def test_reconnect_grace(rooms: RoomState) -> None:
    m = meeting()
    await rooms.join(m, person("ann"), max_participants=1)
    await rooms.mark_disconnected(m, "ann")
    state = await rooms.get(m, "ann")
    assert state is not None and not state.connected and state.disconnected_at
    with pytest.raises(RoomFull):  # the seat is still hers
        await rooms.join(m, person("bob"), max_participants=1)
    assert await rooms.reclaim(m, "ann") is True
    assert (await rooms.get(m, "ann")).connected is True
    assert await rooms.reclaim(m, "nobody") is False


async def test_chat_replays_the_last_100(rooms: RoomState) -> None:
    m = meeting()
    for i in range(130):
        await rooms.add_chat(m, {"id": str(i), "text": f"message {i}"})
    recent = await rooms.recent_chat(m)
    assert [msg["id"] for msg in recent] == [str(i) for i in range(30, 130)]


async def test_recording_flag(rooms: RoomState) -> None:
    m = meeting()
    assert await rooms.is_recording(m) is False
    await rooms.set_recording(m, True)
    assert await rooms.is_recording(m) is True


async def _collect(rooms: RoomState, m: str, count: int, ready: asyncio.Event) -> list[dict]:
    events = []
    iterator = rooms.subscribe(m).__aiter__()
    pending = asyncio.ensure_future(iterator.__anext__())
    await asyncio.sleep(0.2)  # let the subscription reach the server
    ready.set()
    try:
        while len(events) < count:
            events.append(await asyncio.wait_for(pending, 5))
            if len(events) < count:
                pending = asyncio.ensure_future(iterator.__anext__())
    finally:
        await iterator.aclose()
    return events


async def test_publish_reaches_subscribers(rooms: RoomState) -> None:
    m, other = meeting(), meeting()
    ready = asyncio.Event()
    collector = asyncio.create_task(_collect(rooms, m, 2, ready))
    await ready.wait()
    await rooms.publish(other, {"method": "Elsewhere"})
    await rooms.publish(m, {"method": "A", "params": {"n": 1}})
    await rooms.publish(m, {"method": "B", "params": {}})
    assert [e["method"] for e in await collector] == ["A", "B"]


@pytest.mark.redis
async def test_two_instances_share_a_room(redis_client: aioredis.Redis) -> None:
    first = RedisRoomState(redis_client, ttl_seconds=TTL)
    second_client = aioredis.from_url(REDIS_URL)
    second = RedisRoomState(second_client, ttl_seconds=TTL)
    try:
        m = meeting()
        ready = asyncio.Event()
        collector = asyncio.create_task(_collect(second, m, 1, ready))
        await ready.wait()
        await first.join(m, person("ann"), max_participants=2)
        await first.publish(m, {"method": "ParticipantJoined", "params": {"userId": "ann"}})
        assert (await collector)[0]["params"] == {"userId": "ann"}
        assert [p.user_id for p in await second.participants(m)] == ["ann"]
        await second.join(m, person("bob"), max_participants=2)
        with pytest.raises(RoomFull):
            await first.join(m, person("cid"), max_participants=2)
    finally:
        await second_client.aclose()


@pytest.mark.redis
async def test_ttl_is_set_and_refreshed(redis_client: aioredis.Redis) -> None:
    rooms = RedisRoomState(redis_client, ttl_seconds=TTL)
    m = meeting()
    await rooms.join(m, person("ann"), max_participants=2)
    await rooms.add_chat(m, {"id": "1"})
    for key in (f"room:{m}", f"room:{m}:participants", f"room:{m}:chat"):
        assert 0 < await redis_client.ttl(key) <= TTL
    await redis_client.expire(f"room:{m}", 5)
    await rooms.touch(m)
    assert await redis_client.ttl(f"room:{m}") > 5
    assert await redis_client.hget(f"room:{m}", "participantCount") == b"1"
