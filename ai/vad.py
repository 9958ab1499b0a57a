"""Streaming voice activity detection with the Silero model that faster-whisper ships.

faster-whisper runs Silero over a whole file; here each speaker stream keeps the model's
recurrent state between calls, so audio can be fed as it arrives and gives exactly the
probabilities a whole-file pass would. A window of 512 samples (32 ms) costs about 60 us.

``SpeechGate`` turns the probabilities into utterances: speech starts when a window is
above ``threshold``, and ends after ``min_silence`` seconds below ``threshold - 0.15``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

WINDOW = 512
CONTEXT = 64
SAMPLE_RATE = 16000


class SileroStream:
    """Silero speech probabilities for one stream, window by window."""

    def __init__(self) -> None:
        self._session = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._rest = np.zeros(0, dtype=np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities for each complete window; a partial window waits for more."""
        audio = np.concatenate([self._rest, audio]) if len(self._rest) else audio
        complete = len(audio) // WINDOW * WINDOW
        self._rest = audio[complete:]
        if not complete:
            return np.zeros(0, dtype=np.float32)
        windows = audio[:complete].reshape(-1, WINDOW)
        contexts = np.concatenate([self._context[None], windows[:-1, -CONTEXT:]])
        self._context = windows[-1, -CONTEXT:].copy()
        probs, self._h, self._c = self._session.run(
            None, {"input": np.concatenate([contexts, windows], axis=1), "h": self._h,
                   "c": self._c})
        return np.asarray(probs, dtype=np.float32).reshape(-1)


class Activity(enum.Enum):
    silence = "silence"
    speech = "speech"


@dataclass(frozen=True, slots=True)
class GateOptions:
    threshold: float = 0.5
    min_silence: float = 0.6  # seconds of silence that end an utterance
    min_speech: float = 0.25  # utterances with less speech than this are dropped
    pre_roll: float = 0.3  # audio kept from before the speech started
    post_roll: float = 0.25  # silence kept after the speech ended


@dataclass(frozen=True, slots=True)
class GateChange:
    """Speech started (``start``) or ended at ``sample`` of the stream."""

    activity: Activity
    sample: int
    speech_samples: int = 0  # for an end: how much of the utterance was speech


class SpeechGate:
    """Utterance boundaries from window probabilities (stream sample positions)."""

    def __init__(self, options: GateOptions | None = None) -> None:
        self.options = options or GateOptions()
        self.state = Activity.silence
        self._position = 0  # samples seen
        self._silent_windows = 0
        self._speech_windows = 0
        self._low = max(self.options.threshold - 0.15, 0.01)
        self._silence_needed = int(self.options.min_silence * SAMPLE_RATE / WINDOW)

    def feed(self, probs: np.ndarray) -> list[GateChange]:
        changes = []
        for prob in probs:
            change = self._window(float(prob))
            if change is not None:
                changes.append(change)
            self._position += WINDOW
        return changes

    def _window(self, prob: float) -> GateChange | None:
        if self.state is Activity.silence:
            if prob < self.options.threshold:
                return None
            self.state = Activity.speech
            self._silent_windows = 0
            self._speech_windows = 1
            return GateChange(Activity.speech, self._position)
        if prob >= self._low:
            self._speech_windows += prob >= self.options.threshold
            self._silent_windows = 0
            return None
        self._silent_windows += 1
        if self._silent_windows < self._silence_needed:
            return None
        self.state = Activity.silence
        end = self._position + WINDOW - self._silent_windows * WINDOW
        return GateChange(Activity.silence, end, self._speech_windows * WINDOW)

    def reset(self) -> None:
        """Back to silence (the stream ended an utterance itself); positions go on."""
        self.state = Activity.silence
        self._silent_windows = 0
        self._speech_windows = 0

    def is_speech(self, speech_samples: int) -> bool:
        return speech_samples >= self.options.min_speech * SAMPLE_RATE
