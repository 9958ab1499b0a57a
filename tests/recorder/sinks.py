"""A transcription sink for tests: each speaker's tapped audio into a WAV file."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from recorder.tap import TAP_RATE, SpeakerStream, TranscriptionSink


class WavStream(SpeakerStream):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.first_ms: int | None = None
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(TAP_RATE)

    def push(self, pcm: np.ndarray, meeting_ms: int) -> None:
        if self.first_ms is None:
            self.first_ms = meeting_ms
        self._wav.writeframes(pcm.astype("<i2").tobytes())

    def close(self) -> None:
        self._wav.close()


class WavSink(TranscriptionSink):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.streams: dict[str, WavStream] = {}

    def open_stream(self, *, meeting_id: str, participant_id: str, speaker_name: str
                    ) -> SpeakerStream:
        stream = WavStream(self.directory / f"{speaker_name}-{len(self.streams)}.wav")
        self.streams[participant_id] = stream
        return stream
