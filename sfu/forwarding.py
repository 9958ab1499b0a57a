"""Fan-out of one published track to many subscribers, packets untouched.

A ``PublishedTrack`` reads encoded packets from a publisher's receiver track (see
``sfu.passthrough``) in one task and hands each packet to every ``ForwardedTrack``
subscribed to it. A ``ForwardedTrack`` is what a subscriber's ``RTCRtpSender`` reads; each
has its own small queue, so a slow subscriber loses its own oldest packets and never
holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

logger = logging.getLogger(__name__)

QUEUE_PACKETS = {"audio": 50, "video": 120}


class ForwardedTrack(MediaStreamTrack):
    """A subscriber's copy of a published track: encoded packets in, encoded packets out."""

    def __init__(self, kind: str, source_id: str) -> None:
        super().__init__()
        self.kind = kind
        self.source_id = source_id
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(QUEUE_PACKETS[kind])

    def push(self, packet: av.Packet | None) -> None:
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()  # drop the oldest: late media is useless
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet


class PublishedTrack:
    """One participant's incoming audio or video, relayed to its subscribers."""

    def __init__(
        self,
        source: MediaStreamTrack,
        *,
        participant_id: str,
        request_keyframe: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.source = source
        self.kind = source.kind
        self.participant_id = participant_id
        self._request_keyframe = request_keyframe
        self._subscribers: set[ForwardedTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self.packets = 0
        self.bytes = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._relay(),
                                             name=f"relay-{self.participant_id}-{self.kind}")

    def subscribe(self) -> ForwardedTrack:
        track = ForwardedTrack(self.kind, self.participant_id)
        self._subscribers.add(track)
        if self.kind == "video":
            self.keyframe()
        return track

    def unsubscribe(self, track: ForwardedTrack) -> None:
        if track in self._subscribers:
            self._subscribers.discard(track)
            track.push(None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def keyframe(self) -> None:
        """Ask the publisher for a keyframe, so a new video subscriber can start decoding."""
        if self._request_keyframe is not None and self._task is not None:
            request = asyncio.create_task(self._request_keyframe())
            self._requests.add(request)
            request.add_done_callback(self._requests.discard)

    async def _relay(self) -> None:
        try:
            while True:
                packet = await self.source.recv()
                if not isinstance(packet, av.Packet):
                    raise TypeError("install sfu.passthrough on the publisher's receiver")
                self.packets += 1
                self.bytes += packet.size
                for subscriber in self._subscribers:
                    subscriber.push(packet)
        except MediaStreamError:
            logger.debug("published %s track of %s ended", self.kind, self.participant_id)
        finally:
            for subscriber in list(self._subscribers):
                subscriber.push(None)
            self._subscribers.clear()

    async def aclose(self) -> None:
        """Stop relaying and end every subscriber's track; safe to call twice."""
        task, self._task = self._task, None
        for pending in [*self._requests, *([task] if task else [])]:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        for subscriber in list(self._subscribers):
            subscriber.push(None)
        self._subscribers.clear()
