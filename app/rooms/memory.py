"""Room state in this process: the embedded default (one API instance)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.rooms.base import CHAT_CACHE, ParticipantState, RoomFull, RoomState


@dataclass
class _Room:
    participants: dict[str, ParticipantState] = field(default_factory=dict)
    chat: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=CHAT_CACHE))
    recording: bool = False
    subscribers: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)


class MemoryRoomState(RoomState):
    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def _room(self, meeting_id: str) -> _Room:
        return self._rooms.setdefault(meeting_id, _Room())

    def _forget_if_idle(self, meeting_id: str) -> None:
        room = self._rooms.get(meeting_id)
        if room is not None and not room.participants and not room.subscribers:
            del self._rooms[meeting_id]

    async def join(self, meeting_id: str, participant: ParticipantState, *,
                   max_participants: int) -> None:
        room = self._room(meeting_id)
        present = participant.user_id in room.participants
        if not present and not participant.hidden and (
                await self.count(meeting_id)) >= max_participants:
            raise RoomFull(meeting_id)
        room.participants[participant.user_id] = participant

    async def leave(self, meeting_id: str, user_id: str) -> ParticipantState | None:
        room = self._rooms.get(meeting_id)
        if room is None:
            return None
        gone = room.participants.pop(user_id, None)
        self._forget_if_idle(meeting_id)
        return gone

    async def get(self, meeting_id: str, user_id: str) -> ParticipantState | None:
        room = self._rooms.get(meeting_id)
        return room.participants.get(user_id) if room else None

    async def participants(self, meeting_id: str) -> list[ParticipantState]:
        room = self._rooms.get(meeting_id)
        return sorted(room.participants.values(), key=lambda p: p.joined_at) if room else []

    async def count(self, meeting_id: str) -> int:
        return sum(not p.hidden for p in await self.participants(meeting_id))

    async def _store(self, meeting_id: str, participant: ParticipantState) -> None:
        self._room(meeting_id).participants[participant.user_id] = participant

    async def touch(self, meeting_id: str) -> None:
        return None  # nothing expires in memory

    async def set_recording(self, meeting_id: str, recording: bool) -> None:
        self._room(meeting_id).recording = recording

    async def is_recording(self, meeting_id: str) -> bool:
        room = self._rooms.get(meeting_id)
        return room.recording if room else False

    async def add_chat(self, meeting_id: str, message: dict[str, Any]) -> None:
        self._room(meeting_id).chat.append(message)

    async def recent_chat(self, meeting_id: str) -> list[dict[str, Any]]:
        room = self._rooms.get(meeting_id)
        return list(room.chat) if room else []

    async def publish(self, meeting_id: str, event: dict[str, Any]) -> None:
        room = self._rooms.get(meeting_id)
        for queue in list(room.subscribers) if room else []:
            queue.put_nowait(event)

    async def subscribe(self, meeting_id: str) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        room = self._room(meeting_id)
        room.subscribers.add(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            room.subscribers.discard(queue)
            self._forget_if_idle(meeting_id)

    async def aclose(self) -> None:
        for room in self._rooms.values():
            for queue in room.subscribers:
                queue.put_nowait(None)
