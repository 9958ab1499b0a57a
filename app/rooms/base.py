"""The room state interface and the participant record both implementations keep."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

CHAT_CACHE = 100


class RoomFull(Exception):
    """The meeting has as many (visible) participants as it admits."""


@dataclass(frozen=True, slots=True)
class ParticipantState:
    """A participant as the room keeps it (seed 002 ``room:{id}:participants``)."""

    user_id: str
    display_name: str
    role: str
    connection_id: str
    is_muted: bool = False
    is_video_on: bool = True
    hidden: bool = False  # the recorder: in the room, never in participant lists
    connected: bool = True
    joined_at: float = field(default_factory=time.time)
    disconnected_at: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> ParticipantState:
        return cls(**json.loads(raw))

    def changed(self, **changes: Any) -> ParticipantState:
        return replace(self, **changes)


class RoomState(ABC):
    """Every method takes the meeting id as a string and is safe to call concurrently."""

    @abstractmethod
    async def join(self, meeting_id: str, participant: ParticipantState, *,
                   max_participants: int) -> None:
        """Add (or replace) a participant; raise ``RoomFull`` past ``max_participants``
        visible participants. Refreshes the room's TTL."""

    @abstractmethod
    async def leave(self, meeting_id: str, user_id: str) -> ParticipantState | None:
        """Remove a participant; return who it was, or None if they were not there."""

    @abstractmethod
    async def get(self, meeting_id: str, user_id: str) -> ParticipantState | None: ...

    @abstractmethod
    async def participants(self, meeting_id: str) -> list[ParticipantState]: ...

    @abstractmethod
    async def count(self, meeting_id: str) -> int:
        """Visible participants (the recorder is not counted)."""

    @abstractmethod
    async def _store(self, meeting_id: str, participant: ParticipantState) -> None:
        """Overwrite an existing participant's record."""

    async def update(self, meeting_id: str, user_id: str, **changes: Any) -> ParticipantState:
        current = await self.get(meeting_id, user_id)
        if current is None:
            raise KeyError(user_id)
        updated = current.changed(**changes)
        await self._store(meeting_id, updated)
        return updated

    async def mark_disconnected(self, meeting_id: str, user_id: str) -> None:
        """The connection dropped: keep the place for the reconnect grace period."""
        if await self.get(meeting_id, user_id) is not None:
            await self.update(meeting_id, user_id, connected=False, disconnected_at=time.time())

    async def reclaim(self, meeting_id: str, user_id: str) -> bool:
        """A participant back within the grace period takes their place again."""
        if await self.get(meeting_id, user_id) is None:
            return False
        await self.update(meeting_id, user_id, connected=True, disconnected_at=None)
        await self.touch(meeting_id)
        return True

    @abstractmethod
    async def touch(self, meeting_id: str) -> None:
        """Keepalive: refresh the room's TTL."""

    @abstractmethod
    async def set_recording(self, meeting_id: str, recording: bool) -> None: ...

    @abstractmethod
    async def is_recording(self, meeting_id: str) -> bool: ...

    @abstractmethod
    async def add_chat(self, meeting_id: str, message: dict[str, Any]) -> None:
        """Keep the message among the last 100 replayed to whoever joins."""

    @abstractmethod
    async def recent_chat(self, meeting_id: str) -> list[dict[str, Any]]:
        """The last 100 messages, oldest first."""

    @abstractmethod
    async def publish(self, meeting_id: str, event: dict[str, Any]) -> None:
        """Send an event to every subscriber of the meeting, on every instance."""

    @abstractmethod
    def subscribe(self, meeting_id: str) -> AsyncIterator[dict[str, Any]]:
        """The meeting's events, from now on, until the iterator is closed."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections; safe to call twice."""
