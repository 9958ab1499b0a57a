"""The selective forwarding unit: meetings, their peers and their published tracks.

Every participant has one peer connection. What a participant publishes (Opus audio,
VP8 video) is relayed, still encoded, to every other participant's connection. The
signaling layer drives it: ``join`` (the SFU then offers through ``send_offer``),
``answer``, ``add_ice_candidate``, ``leave``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpReceiver

from sfu.exceptions import UnknownPeer
from sfu.forwarding import PublishedTrack
from sfu.peer import OfferSender, Peer
from sfu.quality import Tier, report_from_stats

logger = logging.getLogger(__name__)

ReceivePolicy = Callable[[str], bool]
STATS_INTERVAL_SECONDS = 3.0
KEYFRAME_INTERVAL_SECONDS = 6.0


@dataclass(slots=True)
class MeetingRoom:
    """One meeting on this SFU node (seed 000 DS-02)."""

    meeting_id: str
    created_ms: int
    peers: dict[str, Peer] = field(default_factory=dict)
    published: dict[str, dict[str, PublishedTrack]] = field(default_factory=dict)
    policies: dict[str, ReceivePolicy] = field(default_factory=dict)

    def tier(self) -> Tier:
        tiers = {peer.session.tier for peer in self.peers.values()}
        for tier in (Tier.low, Tier.medium):
            if tier in tiers:
                return tier
        return Tier.high


class Sfu:
    def __init__(self, *, stats_interval: float = STATS_INTERVAL_SECONDS) -> None:
        self._rooms: dict[str, MeetingRoom] = {}
        self._stats_interval = stats_interval
        self._monitor: asyncio.Task[None] | None = None
        self._closed = False

    # ----------------------------------------------------------------------- membership

    async def join(
        self,
        meeting_id: object,
        participant_id: object,
        *,
        on_offer: OfferSender,
        publishes: bool = True,
        receives: ReceivePolicy | None = None,
    ) -> None:
        """Add a participant and send them the first offer.

        ``receives(publisher_id)`` decides which participants' media this one gets
        (the recorder only gets those who consented); by default everyone's.
        """
        room = self._room(str(meeting_id))
        pid = str(participant_id)
        if pid in room.peers:
            await self.leave(meeting_id, participant_id)
        peer = Peer(meeting_id=room.meeting_id, participant_id=pid, publishes=publishes,
                    send_offer=on_offer, on_track=self._track_arrived)
        room.peers[pid] = peer
        if receives is not None:
            room.policies[pid] = receives
        for publisher_id, tracks in room.published.items():
            if publisher_id != pid and self._allowed(room, pid, publisher_id):
                for published in tracks.values():
                    peer.subscribe(published)
        await peer.start()
        self._ensure_monitor()

    async def leave(self, meeting_id: object, participant_id: object) -> None:
        room = self._rooms.get(str(meeting_id))
        pid = str(participant_id)
        if room is None or pid not in room.peers:
            return
        peer = room.peers.pop(pid)
        room.policies.pop(pid, None)
        for other in room.peers.values():
            other.unsubscribe(pid)
        for published in room.published.pop(pid, {}).values():
            await published.aclose()
        await peer.close()
        if not room.peers:
            del self._rooms[room.meeting_id]
        logger.info("meeting %s: %s left the SFU", room.meeting_id, pid)

    def refresh_subscriptions(self, meeting_id: object, participant_id: object) -> None:
        """Apply a participant's receive policy again (e.g. after consent changed)."""
        room = self._rooms.get(str(meeting_id))
        peer = room.peers.get(str(participant_id)) if room else None
        if room is None or peer is None:
            return
        have = peer.forwarded_sources()
        for publisher_id, tracks in room.published.items():
            allowed = publisher_id != peer.participant_id and self._allowed(
                room, peer.participant_id, publisher_id)
            if allowed and publisher_id not in have:
                for published in tracks.values():
                    peer.subscribe(published)
            elif not allowed and publisher_id in have:
                peer.unsubscribe(publisher_id)

    # ----------------------------------------------------------------------- signaling

    async def answer(self, meeting_id: object, participant_id: object, sdp: str) -> None:
        await self._peer(meeting_id, participant_id).answer(sdp)

    async def add_ice_candidate(
        self, meeting_id: object, participant_id: object, candidate: dict[str, Any]
    ) -> None:
        await self._peer(meeting_id, participant_id).add_ice_candidate(candidate)

    # ----------------------------------------------------------------------- media

    def _track_arrived(self, peer: Peer, track: MediaStreamTrack, receiver: RTCRtpReceiver
                       ) -> None:
        room = self._rooms.get(peer.meeting_id)
        if room is None:
            return
        published = PublishedTrack(track, participant_id=peer.participant_id,
                                   request_keyframe=lambda: _request_keyframe(receiver))
        previous = room.published.setdefault(peer.participant_id, {}).get(track.kind)
        if previous is not None:
            logger.warning("meeting %s: %s published a second %s track", room.meeting_id,
                           peer.participant_id, track.kind)
            return
        room.published[peer.participant_id][track.kind] = published
        published.start()
        for other_id, other in room.peers.items():
            if other_id != peer.participant_id and self._allowed(room, other_id,
                                                                 peer.participant_id):
                other.subscribe(published)
        logger.info("meeting %s: %s publishes %s", room.meeting_id, peer.participant_id,
                    track.kind)

    @staticmethod
    def _allowed(room: MeetingRoom, subscriber_id: str, publisher_id: str) -> bool:
        policy = room.policies.get(subscriber_id)
        return policy is None or policy(publisher_id)

    def published_tracks(self, meeting_id: object, participant_id: object
                         ) -> dict[str, PublishedTrack]:
        room = self._rooms.get(str(meeting_id))
        return dict(room.published.get(str(participant_id), {})) if room else {}

    # ----------------------------------------------------------------------- quality

    def quality(self, meeting_id: object) -> dict[str, Any]:
        room = self._rooms.get(str(meeting_id))
        if room is None:
            return {"meetingId": str(meeting_id), "tier": Tier.high.value, "participants": []}
        return {
            "meetingId": room.meeting_id,
            "tier": room.tier().value,
            "createdAt": room.created_ms,
            "participants": [peer.session.metrics() for peer in room.peers.values()],
        }

    def _ensure_monitor(self) -> None:
        if self._monitor is None and not self._closed:
            self._monitor = asyncio.create_task(self._monitor_loop(), name="sfu-monitor")

    async def _monitor_loop(self) -> None:
        last_keyframe = time.monotonic()
        while True:
            await asyncio.sleep(self._stats_interval)
            for room in list(self._rooms.values()):
                for peer in list(room.peers.values()):
                    await _collect_stats(peer)
            if time.monotonic() - last_keyframe > KEYFRAME_INTERVAL_SECONDS:
                last_keyframe = time.monotonic()
                for room in list(self._rooms.values()):
                    for tracks in room.published.values():
                        video = tracks.get("video")
                        if video is not None and video.subscriber_count:
                            video.keyframe()

    # ----------------------------------------------------------------------- lifecycle

    def _room(self, meeting_id: str) -> MeetingRoom:
        room = self._rooms.get(meeting_id)
        if room is None:
            room = MeetingRoom(meeting_id=meeting_id, created_ms=int(time.time() * 1000))
            self._rooms[meeting_id] = room
        return room

    def _peer(self, meeting_id: object, participant_id: object) -> Peer:
        room = self._rooms.get(str(meeting_id))
        peer = room.peers.get(str(participant_id)) if room else None
        if peer is None:
            raise UnknownPeer(f"{participant_id} is not connected to meeting {meeting_id}")
        return peer

    async def close(self) -> None:
        """Close every peer connection; safe to call twice."""
        self._closed = True
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        for room in list(self._rooms.values()):
            for participant_id in list(room.peers):
                await self.leave(room.meeting_id, participant_id)


async def _collect_stats(peer: Peer) -> None:
    try:
        stats = await peer.pc.getStats()
    except Exception:  # a peer closing mid-read must not stop the monitor
        logger.debug("meeting %s: no stats from %s", peer.meeting_id, peer.participant_id)
        return
    report = report_from_stats(dict(stats))
    if report is not None:
        peer.session.add_report(report)
    sent = {"audio": 0, "video": 0}
    for entry in stats.values():
        if getattr(entry, "type", None) == "outbound-rtp":
            sent[entry.kind] = sent.get(entry.kind, 0) + entry.bytesSent
    peer.session.note_bytes(sent["audio"], sent["video"], int(time.time() * 1000))


async def _request_keyframe(receiver: RTCRtpReceiver) -> None:
    for source in receiver.getSynchronizationSources():
        await receiver._send_rtcp_pli(source.source)
