"""Cutting one track's encoded packets into self-contained WebM chunks, without
re-encoding.

Opus audio and VP8 video packets go into WebM files as they are (PyAV muxes them). A
chunk is cut once it holds ``chunk_seconds`` of media; a video chunk only at a keyframe,
so every chunk plays on its own. Timestamps inside a chunk start at zero; where the
chunk sits on the stream's timeline is kept in its ``ChunkFile`` (``first_rtp``), for the
caller to place on the meeting clock when the chunk is done: by then the sender's reports
have usually arrived, which place it better than the first packet's arrival.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

logger = logging.getLogger(__name__)

CLOCK_RATES = {"audio": 48000, "video": 90000}
# the OpusHead a WebM file must carry for Opus: version 1, 2 channels (WebRTC's Opus is
# declared stereo), pre-skip 312, 48 kHz, no gain, mapping family 0
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
AUDIO_FRAME_TICKS = 960  # 20 ms at 48 kHz, the usual WebRTC Opus frame


def chunk_key(meeting_id: object, recording_id: object, track_id: object, seq: int) -> str:
    """The chunk's storage key; deterministic, so a retried upload overwrites."""
    return f"recordings/{meeting_id}/{recording_id}/{track_id}/{seq:06d}.webm"


def is_vp8_keyframe(data: bytes) -> bool:
    return len(data) >= 10 and data[0] & 1 == 0 and data[3:6] == b"\x9d\x01\x2a"


def vp8_dimensions(data: bytes) -> tuple[int, int]:
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return width, height


@dataclass(frozen=True, slots=True)
class ChunkFile:
    path: Path
    seq: int
    first_rtp: int
    duration_ms: int
    size_bytes: int
    sha256: str


class _OpenChunk:
    def __init__(self, path: Path, kind: str, first: bytes, first_rtp: int) -> None:
        self.path = path
        self.first_rtp = first_rtp
        self.last_rtp = first_rtp
        self.packets = 0
        self.container = av.open(str(path), "w", format="webm")
        self.stream: av.stream.Stream
        if kind == "audio":
            audio = self.container.add_stream("libopus", rate=48000)
            audio.codec_context.layout = "stereo"
            audio.codec_context.extradata = OPUS_HEAD
            self.stream = audio
        else:
            video = self.container.add_stream("libvpx", rate=30)
            video.codec_context.width, video.codec_context.height = vp8_dimensions(first)
            self.stream = video
        self.time_base = Fraction(1, CLOCK_RATES[kind])
        self.stream.time_base = self.time_base

    def write(self, data: bytes, extended_rtp: int, keyframe: bool) -> None:
        packet = av.Packet(data)
        packet.pts = packet.dts = extended_rtp - self.first_rtp
        packet.time_base = self.time_base
        packet.is_keyframe = keyframe
        packet.stream = self.stream
        self.container.mux(packet)
        self.last_rtp = max(self.last_rtp, extended_rtp)
        self.packets += 1

    def ticks(self) -> int:
        return self.last_rtp - self.first_rtp


class ChunkWriter:
    """Writes one track's chunks into ``directory`` as ``{seq:06d}.webm``.

    ``write`` takes a packet's bytes and its extended RTP timestamp (see
    ``recorder.rtpclock``). Blocking (PyAV and file I/O), but cheap per packet.
    A packet no newer than the last one written (reordered, repeated) is dropped: a WebM
    track's timestamps may not go backwards, and a repeat would double its media.
    """

    def __init__(self, *, kind: str, directory: Path, chunk_seconds: float, first_seq: int = 0
                 ) -> None:
        if kind not in CLOCK_RATES:
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rate = CLOCK_RATES[kind]
        self._chunk_ticks = round(chunk_seconds * self._rate)
        self._seq = first_seq
        self._open: _OpenChunk | None = None
        self._frame_ticks = AUDIO_FRAME_TICKS if kind == "audio" else self._rate // 30
        self.dropped = 0

    def write(self, data: bytes, extended_rtp: int) -> ChunkFile | None:
        """Add one packet; return the chunk it closed, if any."""
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)
        closed = None
        if self._open is not None and self._due(extended_rtp, keyframe):
            closed = self._close()
        if self._open is None:
            if not keyframe:
                return closed  # video waits for a keyframe to start a chunk
            path = self.directory / f"{self._seq:06d}.webm.part"
            self._open = _OpenChunk(path, self.kind, data, extended_rtp)
        if self._open.packets and extended_rtp <= self._open.last_rtp:
            self.dropped += 1
            logger.debug("%s chunk %d: dropped a late or repeated packet (%d ticks behind)",
                         self.kind, self._seq, self._open.last_rtp - extended_rtp)
            return closed
        self._open.write(data, extended_rtp, keyframe)
        return closed

    def _due(self, extended_rtp: int, keyframe: bool) -> bool:
        assert self._open is not None
        return extended_rtp - self._open.first_rtp >= self._chunk_ticks and keyframe

    def _close(self) -> ChunkFile:
        chunk, self._open = self._open, None
        assert chunk is not None
        chunk.container.close()
        final = chunk.path.with_suffix("")  # drop ".part": the file is complete
        chunk.path.rename(final)
        data = final.read_bytes()
        self._seq += 1
        return ChunkFile(
            path=final,
            seq=self._seq - 1,
            first_rtp=chunk.first_rtp,
            duration_ms=round((chunk.ticks() + self._frame_ticks) * 1000 / self._rate),
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def close(self) -> ChunkFile | None:
        """Finish the open chunk, if there is one."""
        return self._close() if self._open is not None else None

    @property
    def next_seq(self) -> int:
        return self._seq
