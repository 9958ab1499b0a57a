"""The audio tap: each recorded participant's audio, decoded to 16 kHz mono PCM, offered
to a transcription sink with the meeting-clock time of its first sample.

The live captions feature plugs its Whisper worker in as a ``TranscriptionSink``.
Participants who declined transcription are never offered.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import av
import numpy as np

TAP_RATE = 16000


class SpeakerStream(ABC):
    """One participant's audio on its way to transcription."""

    @abstractmethod
    def push(self, pcm: np.ndarray, meeting_ms: int) -> None:
        """16-bit mono PCM at 16 kHz; ``meeting_ms`` is the time of its first sample."""

    @abstractmethod
    def close(self) -> None: ...


class TranscriptionSink(ABC):
    @abstractmethod
    def open_stream(self, *, meeting_id: str, participant_id: str, speaker_name: str
                    ) -> SpeakerStream: ...


class OpusTap:
    """Decodes one track's Opus packets to 16 kHz mono for a ``SpeakerStream``."""

    def __init__(self, stream: SpeakerStream) -> None:
        self._stream = stream
        self._decoder = av.CodecContext.create("opus", "r")
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=TAP_RATE)

    def push(self, data: bytes, meeting_ms: int) -> None:
        try:
            frames = self._decoder.decode(av.Packet(data))
        except av.FFmpegError:
            return  # a damaged packet: skip it, as a player would
        for frame in frames:
            for resampled in self._resampler.resample(frame):
                self._stream.push(resampled.to_ndarray().reshape(-1).astype(np.int16),
                                  meeting_ms)

    def close(self) -> None:
        self._stream.close()
