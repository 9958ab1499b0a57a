"""Room state: who is in a meeting, their mute/video state, the chat cache, and the
meeting's event channel. Two implementations: in-process (embedded default) and Redis
(several API instances). See ``docs/signaling.md``."""

from __future__ import annotations

from redis.asyncio import Redis

from app.config import Settings
from app.rooms.base import ParticipantState, RoomFull, RoomState
from app.rooms.memory import MemoryRoomState
from app.rooms.redis import RedisRoomState


def create_room_state(settings: Settings, redis: Redis | None) -> RoomState:
    if redis is not None:
        return RedisRoomState(redis, ttl_seconds=settings.room_ttl_seconds)
    return MemoryRoomState()


__all__ = ["MemoryRoomState", "ParticipantState", "RedisRoomState", "RoomFull", "RoomState",
           "create_room_state"]
