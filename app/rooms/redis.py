"""Room state in Redis, shared by every API instance (seed 002's schema).

- ``room:{id}`` hash: ``participantCount`` (HINCRBY, visible participants only),
  ``isRecording``, ``createdAt``; TTL refreshed on join and keepalive.
- ``room:{id}:participants`` hash: user id -> participant JSON; same TTL.
- ``room:{id}:chat`` list: the last 100 messages (LPUSH + LTRIM); same TTL.
- ``room:{id}:events`` pub/sub channel: events for every instance's clients.

Joining and leaving are Lua scripts, so the count and the capacity check are atomic.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from app.rooms.base import CHAT_CACHE, ParticipantState, RoomFull, RoomState

logger = logging.getLogger(__name__)

# KEYS: room, participants. ARGV: user id, json, hidden (0/1), max, ttl, now
_JOIN = """
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if not existing and ARGV[3] == '0' then
  local count = tonumber(redis.call('HGET', KEYS[1], 'participantCount') or '0')
  if count >= tonumber(ARGV[4]) then return -1 end
  redis.call('HINCRBY', KEYS[1], 'participantCount', 1)
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[1], 'createdAt', ARGV[6])
redis.call('HSETNX', KEYS[1], 'participantCount', 0)
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""

# KEYS: room, participants. ARGV: user id
_LEAVE = """
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if not existing then return false end
redis.call('HDEL', KEYS[2], ARGV[1])
if not string.find(existing, '"hidden":true', 1, true) then
  redis.call('HINCRBY', KEYS[1], 'participantCount', -1)
end
return existing
"""

# KEYS: participants. ARGV: user id, json  (only if still present)
_STORE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


def _keys(meeting_id: str) -> tuple[str, str, str, str]:
    base = f"room:{meeting_id}"
    return base, f"{base}:participants", f"{base}:chat", f"{base}:events"


class RedisRoomState(RoomState):
    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)
        self._store_script = redis.register_script(_STORE)

    async def join(self, meeting_id: str, participant: ParticipantState, *,
                   max_participants: int) -> None:
        room, participants, _, _ = _keys(meeting_id)
        result = await self._join(
            keys=[room, participants],
            args=[participant.user_id, participant.to_json(), int(participant.hidden),
                  max_participants, self._ttl, int(time.time())],
        )
        if int(result) == -1:
            raise RoomFull(meeting_id)

    async def leave(self, meeting_id: str, user_id: str) -> ParticipantState | None:
        room, participants, _, _ = _keys(meeting_id)
        existing = await self._leave(keys=[room, participants], args=[user_id])
        return ParticipantState.from_json(existing) if existing else None

    async def get(self, meeting_id: str, user_id: str) -> ParticipantState | None:
        raw = await self._redis.hget(_keys(meeting_id)[1], user_id)
        return ParticipantState.from_json(raw) if raw else None

    async def participants(self, meeting_id: str) -> list[ParticipantState]:
        raw = await self._redis.hgetall(_keys(meeting_id)[1])
        states = [ParticipantState.from_json(value) for value in raw.values()]
        return sorted(states, key=lambda p: p.joined_at)

    async def count(self, meeting_id: str) -> int:
        value = await self._redis.hget(_keys(meeting_id)[0], "participantCount")
        return int(value or 0)

    async def _store(self, meeting_id: str, participant: ParticipantState) -> None:
        await self._store_script(keys=[_keys(meeting_id)[1]],
                                 args=[participant.user_id, participant.to_json()])

    async def touch(self, meeting_id: str) -> None:
        room, participants, chat, _ = _keys(meeting_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in (room, participants, chat):
                pipe.expire(key, self._ttl)
            await pipe.execute()

    async def set_recording(self, meeting_id: str, recording: bool) -> None:
        room = _keys(meeting_id)[0]
        await self._redis.hset(room, "isRecording", int(recording))
        await self._redis.expire(room, self._ttl)

    async def is_recording(self, meeting_id: str) -> bool:
        return (await self._redis.hget(_keys(meeting_id)[0], "isRecording")) in (b"1", "1")

    async def add_chat(self, meeting_id: str, message: dict[str, Any]) -> None:
        chat = _keys(meeting_id)[2]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(chat, json.dumps(message))
            pipe.ltrim(chat, 0, CHAT_CACHE - 1)
            pipe.expire(chat, self._ttl)
            await pipe.execute()

    async def recent_chat(self, meeting_id: str) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(_keys(meeting_id)[2], 0, CHAT_CACHE - 1)
        return [json.loads(item) for item in reversed(raw)]

    async def publish(self, meeting_id: str, event: dict[str, Any]) -> None:
        await self._redis.publish(_keys(meeting_id)[3], json.dumps(event))

    async def subscribe(self, meeting_id: str) -> AsyncIterator[dict[str, Any]]:
        channel = _keys(meeting_id)[3]
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    yield json.loads(message["data"])
                except ValueError:
                    logger.warning("meeting %s: dropping an event that is not JSON", meeting_id)
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()

    async def aclose(self) -> None:
        return None  # the Redis client belongs to the application, which closes it
