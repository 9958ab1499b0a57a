"""Checks that keep Whisper's hallucinations out of captions.

Whisper invents text for silence, noise and music ("Thank you.", a line repeated until
the token budget runs out). Voice activity detection keeps most such audio away from the
model; what still reaches it is judged by the decoder's own signals, never by a list of
phrases:

- ``no_speech_prob`` high *and* ``avg_logprob`` low: the model itself says it heard
  nobody speak;
- ``avg_logprob`` very low: the model is guessing;
- a high gzip compression ratio, or an n-gram repeated back to back: a decoding loop;
- more tokens than anyone could say in the audio's duration: a decoding loop.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GuardOptions:
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    min_avg_logprob: float = -1.5
    compression_ratio_threshold: float = 2.4
    max_tokens_per_second: float = 8.0
    max_repeats: int = 3


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def repeated_ngram(words: list[str], max_repeats: int, longest: int = 6) -> bool:
    """True when some n-gram occurs ``max_repeats`` times back to back."""
    lowered = [word.lower().strip(".,!?") for word in words]
    for n in range(1, longest + 1):
        repeats = max_repeats + 2 if n == 1 else max_repeats  # "no, no, no" is speech
        for start in range(len(lowered) - n * repeats + 1):
            gram = lowered[start:start + n]
            if all(lowered[start + k * n:start + (k + 1) * n] == gram
                   for k in range(1, repeats)):
                return True
    return False


def rejection(*, text: str, tokens: int, duration: float, avg_logprob: float,
              no_speech_prob: float, options: GuardOptions) -> str | None:
    """Why this hypothesis must not become a caption, or None when it may."""
    if not any(char.isalnum() for char in text):
        return "no words"
    if no_speech_prob > options.no_speech_threshold and avg_logprob < options.log_prob_threshold:
        return "no speech"
    if avg_logprob < options.min_avg_logprob:
        return "low confidence"
    if compression_ratio(text) > options.compression_ratio_threshold:
        return "repetitive"
    if tokens > 4 + options.max_tokens_per_second * duration:
        return "too many tokens for the audio"
    if repeated_ngram(text.split(), options.max_repeats):
        return "repeated phrase"
    return None
