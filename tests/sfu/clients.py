"""A Python participant for SFU tests: answers the SFU's offers as the meeting page does."""

from __future__ import annotations

import asyncio
import fractions
from typing import Any

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import VideoStreamTrack

from sfu.passthrough import install_passthrough


class ToneTrack(MediaStreamTrack):
    """A sine tone in 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self._frequency = frequency
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        target = self._start + self._samples / 48000
        await asyncio.sleep(max(0.0, target - loop.time()))
        t = (np.arange(960) + self._samples) / 48000
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * self._frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._samples += 960
        return frame


class Participant:
    def __init__(self, name: str, *, tone: float | None = 440.0, video: bool = True) -> None:
        self.name = name
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.audio = ToneTrack(tone) if tone else None
        self.video = VideoStreamTrack() if video else None
        self.tracks: dict[str, str] = {}
        self.received: dict[str, dict[str, MediaStreamTrack]] = {}
        self.offers = 0
        self.answers: asyncio.Queue[str] = asyncio.Queue()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                source = self.tracks.get(transceiver.mid or "", "unknown")
                self.received.setdefault(source, {})[track.kind] = track

    async def on_offer(self, sdp: str, publish: dict[str, str], tracks: dict[str, str]) -> None:
        self.offers += 1
        self.tracks.update(tracks)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():
            kind = transceiver.kind
            if publish.get(kind) == transceiver.mid:
                track = self.audio if kind == "audio" else self.video
                if track is not None and transceiver.sender.track is None:
                    transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly" if track is not None else "inactive"
            else:
                install_passthrough(transceiver.receiver)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        self.answers.put_nowait(self.pc.localDescription.sdp)

    async def next_answer(self, timeout: float = 10.0) -> str:
        return await asyncio.wait_for(self.answers.get(), timeout)

    async def close(self) -> None:
        await self.pc.close()


def decode_opus(packets: list[Any]) -> np.ndarray:
    decoder = av.CodecContext.create("opus", "r")
    decoder.sample_rate = 48000
    samples = []
    for packet in packets:
        for frame in decoder.decode(packet):
            samples.append(frame.to_ndarray().reshape(-1))
    return np.concatenate(samples) if samples else np.zeros(0)
