"""Recording one participant's audio or video track: packets in, chunks and gaps out."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from recorder.chunks import CLOCK_RATES, ChunkFile, ChunkWriter
from recorder.rtpclock import MediaClock
from recorder.tap import OpusTap

logger = logging.getLogger(__name__)

# a jump in RTP time larger than this is a gap (loss, a paused sender), not jitter
GAP_SECONDS = {"audio": 0.5, "video": 2.0}
TAP_WAIT_PACKETS = 150  # 3 s of 20 ms audio packets


@dataclass(frozen=True, slots=True)
class Gap:
    start_ms: int
    end_ms: int
    reason: str


ChunkDone = Callable[[ChunkFile, int], Awaitable[None]]  # the chunk, its start (meeting ms)
GapFound = Callable[[Gap], Awaitable[None]]


class TrackRecorder:
    def __init__(
        self,
        *,
        track: MediaStreamTrack,
        track_id: uuid.UUID,
        clock: MediaClock,
        directory: Path,
        chunk_seconds: float,
        first_seq: int,
        resume_from_ms: int | None,
        on_chunk: ChunkDone,
        on_gap: GapFound,
        tap: OpusTap | None = None,
    ) -> None:
        self.track = track
        self.track_id = track_id
        self.kind = track.kind
        self.clock = clock
        self._writer = ChunkWriter(kind=self.kind, directory=directory,
                                   chunk_seconds=chunk_seconds, first_seq=first_seq)
        self._on_chunk = on_chunk
        self._on_gap = on_gap
        self._tap = tap
        self._gap_ticks = round(GAP_SECONDS[self.kind] * CLOCK_RATES[self.kind])
        self._last_rtp: int | None = None
        self.last_ms: int | None = None
        self._chunk_end_ms: int | None = None
        # if this track was recorded before (recorder restart, consent given again,
        # rejoin), the time until its next chunk is a gap
        self._pending_gap: tuple[int, str] | None = (
            (resume_from_ms, "interrupted") if resume_from_ms is not None else None)
        self.packets = 0

    async def run(self) -> None:
        """Record until the track ends; then close the last chunk."""
        try:
            while True:
                packet = await self.track.recv()
                if isinstance(packet, av.Packet):
                    await self._packet(packet)
        except MediaStreamError:
            logger.info("track %s (%s) ended after %d packets", self.track_id, self.kind,
                        self.packets)
        finally:
            await self._finish()

    async def _packet(self, packet: av.Packet) -> None:
        assert packet.pts is not None
        extended = self.clock.extend(packet.pts)
        self.clock.on_packet(extended, time.time())
        meeting_ms = self.clock.meeting_ms(extended)
        data = bytes(packet)
        self.packets += 1
        if self._last_rtp is not None and extended - self._last_rtp > self._gap_ticks:
            await self._gap("no-media")
        if self._last_rtp is None or extended > self._last_rtp:
            self._last_rtp = extended
        closed = self._writer.write(data, extended)
        self.last_ms = meeting_ms
        if closed is not None:
            await self._done(closed)
        if self._tap is not None and self._placed():
            self._tap.push(data, meeting_ms)

    def _placed(self) -> bool:
        """Is the meeting clock set from the sender's reports yet? Until then the tap
        waits (3 s at most), so captions and chunks are placed by the same clock."""
        return self.clock.from_sender_report or self.packets > TAP_WAIT_PACKETS

    async def _done(self, chunk: ChunkFile) -> ChunkFile:
        start_ms = self.clock.meeting_ms(chunk.first_rtp)
        await self._on_chunk(chunk, start_ms)
        if self._pending_gap is not None:
            gap_start, reason = self._pending_gap
            self._pending_gap = None
            if start_ms - gap_start > 100:
                await self._on_gap(Gap(gap_start, start_ms, reason))
        self._chunk_end_ms = start_ms + chunk.duration_ms
        return chunk

    async def _gap(self, reason: str) -> None:
        """A jump in RTP time: end the chunk (chunks stay contiguous); the gap runs from
        its end to the start of the next chunk, both placed by the same clock."""
        closed = self._writer.close()
        if closed is not None:
            await self._done(closed)
        if self._chunk_end_ms is not None:
            self._pending_gap = (self._chunk_end_ms, reason)

    async def _finish(self) -> None:
        closed = await asyncio.to_thread(self._writer.close)
        if closed is not None:
            await self._done(closed)
        if self._tap is not None:
            self._tap.close()

    def stop_tap(self) -> None:
        """No more of this track's audio goes to transcription."""
        tap, self._tap = self._tap, None
        if tap is not None:
            tap.close()

    @property
    def next_seq(self) -> int:
        return self._writer.next_seq
