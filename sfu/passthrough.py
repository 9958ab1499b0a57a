"""Make an aiortc receiver yield encoded packets instead of decoded frames.

aiortc's ``RTCRtpReceiver`` hands each complete encoded frame from its jitter buffer to a
decoder thread through a queue (``put((codec, frame))`` on the event loop). Replacing that
queue, before the receiver starts, with a ``PacketQueue`` turns every frame straight into
an ``av.Packet`` (payload, ``pts`` = RTP timestamp, ``time_base`` = 1/clock rate) on the
receiver's track. Nothing is decoded; ``RTCRtpSender`` packs such packets as they are, and
PyAV muxes them into WebM or Ogg without re-encoding.

The decoder thread aiortc starts still exists but only waits for the end marker (``None``),
which it passes on to end the track, exactly as it does with real decoders.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtcpSrPacket

_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"


class PacketQueue(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue; feeds packets to the track instead."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        super().__init__()
        self._receiver = receiver

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the end marker: let aiortc's thread end the track
            super().put(None, block, timeout)
            return
        codec, frame = item
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = Fraction(1, codec.clockRate)
        track_queue: asyncio.Queue[Any] = self._receiver._track._queue  # type: ignore[union-attr]
        track_queue.put_nowait(packet)


def install_passthrough(receiver: RTCRtpReceiver) -> None:
    """Call before the receiver starts: after ``addTransceiver``, or, on the answering
    side, between ``setRemoteDescription`` and ``setLocalDescription``."""
    current = getattr(receiver, _QUEUE_ATTRIBUTE, None)
    if current is None:
        raise RuntimeError("this aiortc version has no receiver decoder queue to replace")
    if isinstance(current, PacketQueue):
        return
    if not current.empty():
        raise RuntimeError("the receiver has already started decoding")
    setattr(receiver, _QUEUE_ATTRIBUTE, PacketQueue(receiver))


def is_passthrough(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, _QUEUE_ATTRIBUTE, None), PacketQueue)


def on_sender_reports(receiver: RTCRtpReceiver, callback: Callable[[int, int], None]) -> None:
    """Call ``callback(ntp_timestamp, timestamp)`` for each RTCP sender report: the
    sender's wall clock for a point of the stream.

    aiortc's receiver hands on packet timestamps relative to the stream's first one (and
    unwrapped); ``timestamp`` is the report's RTP timestamp moved onto that same scale,
    so it compares directly with the packets' ``pts``. Reports that come before the first
    packet have nothing to be relative to and are skipped.
    """
    original = receiver._handle_rtcp_packet
    mapper = getattr(receiver, "_RTCRtpReceiver__timestamp_mapper", None)
    if mapper is None:
        raise RuntimeError("this aiortc version has no receiver timestamp mapper")

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket) and mapper._origin is not None:
            callback(packet.sender_info.ntp_timestamp,
                     _relative(packet.sender_info.rtp_timestamp, mapper._origin,
                               mapper._last))
        await original(packet)

    receiver._handle_rtcp_packet = handle  # type: ignore[method-assign]


def _relative(rtp_timestamp: int, origin: int, last: int) -> int:
    """The 32-bit ``rtp_timestamp`` relative to ``origin``, in the wrap nearest ``last``."""
    reference = last - origin
    relative = (rtp_timestamp - origin) % (1 << 32)
    relative += reference - reference % (1 << 32)
    if relative - reference > (1 << 31):
        relative -= 1 << 32
    elif reference - relative > (1 << 31):
        relative += 1 << 32
    return relative
