"""One participant's peer connection to the SFU, and its negotiation.

The SFU is always the offerer, so there is no glare: it offers when the participant
joins and again whenever the set of tracks it forwards to them changes. Offers are
serialized: a change while an offer is outstanding is folded into the next offer, made
as soon as the answer arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from sfu.exceptions import InvalidSdp, NegotiationState
from sfu.forwarding import ForwardedTrack, PublishedTrack
from sfu.passthrough import install_passthrough
from sfu.quality import UserSession

logger = logging.getLogger(__name__)

OfferSender = Callable[..., Awaitable[None]]
TrackHandler = Callable[["Peer", MediaStreamTrack, RTCRtpReceiver], None]
KINDS = ("audio", "video")
# aiortc reports malformed SDP and candidates with these, assertions included
PARSE_ERRORS = (ValueError, KeyError, IndexError, TypeError, AssertionError)


# what the SFU forwards (and the recorder writes) as it is: Opus and VP8 (with RTX)
FORWARDED_CODECS = {"audio": ("audio/opus",), "video": ("video/VP8", "video/rtx")}


def _prefer_forwardable_codecs(transceiver: RTCRtpTransceiver) -> None:
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType in FORWARDED_CODECS[transceiver.kind]])


class PeerState(StrEnum):
    new = "new"
    negotiating = "negotiating"
    connected = "connected"
    closed = "closed"


_PEER_TRANSITIONS = {
    PeerState.new: {PeerState.negotiating, PeerState.closed},
    PeerState.negotiating: {PeerState.connected, PeerState.closed},
    PeerState.connected: {PeerState.negotiating, PeerState.closed},
    PeerState.closed: set(),
}


class Peer:
    def __init__(
        self,
        *,
        meeting_id: str,
        participant_id: str,
        publishes: bool,
        send_offer: OfferSender,
        on_track: TrackHandler,
    ) -> None:
        self.meeting_id = meeting_id
        self.participant_id = participant_id
        self.publishes = publishes
        self.state = PeerState.new
        # max-bundle: one ICE and DTLS transport per participant, whatever the track count
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.session = UserSession(user_id=participant_id, pc_id=uuid.uuid4().hex)
        self._send_offer = send_offer
        self._on_track = on_track
        self._publish: dict[str, RTCRtpTransceiver] = {}
        self._forwarded: dict[RTCRtpTransceiver, tuple[ForwardedTrack, PublishedTrack]] = {}
        self._dirty = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.pc.on("track", self._track_arrived)
        self.pc.on("connectionstatechange", self._connection_changed)

    def _move(self, to: PeerState) -> None:
        if to not in _PEER_TRANSITIONS[self.state]:
            raise NegotiationState(f"peer {self.participant_id}: {self.state} -> {to}")
        self.state = to

    # ----------------------------------------------------------------------- setup

    async def start(self) -> None:
        if self.publishes:
            for kind in KINDS:
                transceiver = self.pc.addTransceiver(kind, direction="recvonly")
                _prefer_forwardable_codecs(transceiver)
                install_passthrough(transceiver.receiver)
                self._publish[kind] = transceiver
        self._move(PeerState.negotiating)
        await self._offer()

    def _track_arrived(self, track: MediaStreamTrack) -> None:
        receiver = next((t.receiver for t in self._publish.values()
                         if t.receiver.track is track), None)
        if receiver is None:
            logger.warning("meeting %s: ignoring an unexpected track from %s",
                           self.meeting_id, self.participant_id)
            return
        self._on_track(self, track, receiver)

    def _connection_changed(self) -> None:
        self.session.connection_state = self.pc.connectionState
        logger.info("meeting %s: peer %s is %s", self.meeting_id, self.participant_id,
                    self.pc.connectionState)

    # ----------------------------------------------------------------------- negotiation

    async def _offer(self) -> None:
        """Make and send an offer; the state is already ``negotiating``."""
        self._dirty = False
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        await self._send_offer(self.pc.localDescription.sdp, **self.track_map())

    def track_map(self) -> dict[str, Any]:
        """What each m-line carries: our own media (publish) and whose media (tracks)."""
        return {
            "publish": {kind: t.mid for kind, t in self._publish.items()},
            "tracks": {t.mid: published.participant_id
                       for t, (_, published) in self._forwarded.items()
                       if t.mid is not None and t.direction != "inactive"},
        }

    def renegotiate(self) -> None:
        """Offer again as soon as no offer is outstanding."""
        if self.state in (PeerState.closed, PeerState.new):
            return  # nothing to do, or ``start`` will make the first offer with it all
        if self.state is PeerState.negotiating:
            self._dirty = True
            return
        self._move(PeerState.negotiating)
        self._spawn(self._offer())

    async def answer(self, sdp: str) -> None:
        if self.state is not PeerState.negotiating or self.pc.signalingState != "have-local-offer":
            raise NegotiationState("There is no offer to answer")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except PARSE_ERRORS as exc:
            raise InvalidSdp(f"The answer cannot be applied: {exc!r}") from exc
        self._move(PeerState.connected)
        if self._dirty:
            self._move(PeerState.negotiating)
            await self._offer()

    async def add_ice_candidate(self, candidate: dict[str, Any]) -> None:
        line = candidate.get("candidate")
        if not isinstance(line, str):
            raise InvalidSdp("candidate.candidate must be a string")
        if not line:
            return  # end of candidates
        try:
            parsed = candidate_from_sdp(line.removeprefix("candidate:"))
        except PARSE_ERRORS as exc:
            raise InvalidSdp(f"The ICE candidate does not parse: {exc!r}") from exc
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        if parsed.sdpMid is None and parsed.sdpMLineIndex is None:
            raise InvalidSdp("candidate needs sdpMid or sdpMLineIndex")
        try:
            await self.pc.addIceCandidate(parsed)
        except (*PARSE_ERRORS, AttributeError) as exc:
            raise InvalidSdp(f"The ICE candidate cannot be used: {exc!r}") from exc

    # ----------------------------------------------------------------------- forwarding

    def subscribe(self, published: PublishedTrack) -> None:
        forwarded = published.subscribe()
        transceiver = self.pc.addTransceiver(forwarded, direction="sendonly")
        _prefer_forwardable_codecs(transceiver)
        self._forwarded[transceiver] = (forwarded, published)
        self.renegotiate()

    def unsubscribe(self, participant_id: str) -> None:
        changed = False
        for transceiver, (forwarded, published) in list(self._forwarded.items()):
            if published.participant_id == participant_id:
                published.unsubscribe(forwarded)
                transceiver.direction = "inactive"
                del self._forwarded[transceiver]
                changed = True
        if changed:
            self.renegotiate()

    def forwarded_sources(self) -> set[str]:
        return {published.participant_id for _, published in self._forwarded.values()}

    # ----------------------------------------------------------------------- lifecycle

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("meeting %s: negotiation with %s failed", self.meeting_id,
                         self.participant_id, exc_info=task.exception())

    async def close(self) -> None:
        """Close the peer connection; safe to call twice."""
        if self.state is PeerState.closed:
            return
        self.state = PeerState.closed
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for forwarded, published in self._forwarded.values():
            published.unsubscribe(forwarded)
        self._forwarded.clear()
        await self.pc.close()
