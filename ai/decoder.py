"""Whisper inference for a batch of speaker buffers at once.

Several streams' audio goes through the encoder and the decoder in one CTranslate2 call,
which costs less than one call per stream. Whisper was trained on 30 s windows, but its
encoder also runs on a shorter window: the buffer plus a few seconds of padding decodes
as well as the full window at a fraction of the cost (with less than about 3 s of padding
the decoder starts to loop, so the padding never goes below ``MIN_PAD_FRAMES``).

Everything here is blocking and runs in the engine's inference thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from ai.guards import GuardOptions, compression_ratio, rejection

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # mel frames
TOKENS_PER_SECOND = 50  # encoder positions, which word alignment counts in
MAX_FRAMES = 3000  # Whisper's 30 s window
MIN_PAD_FRAMES = 500
MIN_WINDOW_FRAMES = 1000
PROMPT_TOKENS = 100


@dataclass(frozen=True, slots=True)
class Word:
    """A word and where it was spoken, in seconds from the start of the buffer."""

    text: str  # with Whisper's leading space
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class DecodeRequest:
    audio: np.ndarray  # float32, 16 kHz mono, at most 30 s
    prompt: str = ""  # text said just before this audio, for context


@dataclass(frozen=True, slots=True)
class Hypothesis:
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    rejected: str | None = None  # why the guards threw the text away

    @property
    def text(self) -> str:
        return "".join(word.text for word in self.words).strip()


class WhisperDecoder:
    """Decodes batches of buffers with one loaded model."""

    def __init__(self, model: WhisperModel, *, language: str = "en",
                 guards: GuardOptions | None = None) -> None:
        self.model = model
        multilingual = model.model.is_multilingual
        self.tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe",
                                   language=language if multilingual else "en")
        self.guards = guards or GuardOptions()
        self._suppress = list(get_suppressed_tokens(self.tokenizer, (-1,)) or ())

    def decode(self, requests: Sequence[DecodeRequest], *, beam_size: int = 1
               ) -> list[Hypothesis]:
        """One hypothesis per request, in order."""
        if not requests:
            return []
        features = [self.model.feature_extractor(request.audio) for request in requests]
        frames = [min(feature.shape[-1] - 1, MAX_FRAMES) for feature in features]
        encoded = self.model.model.encode(_batch(features, _window(max(frames))))
        prompts = self._prompts([request.prompt for request in requests])
        durations = [len(request.audio) / SAMPLE_RATE for request in requests]
        max_new = int(10 + self.guards.max_tokens_per_second * max(durations))
        results = self.model.model.generate(
            encoded, prompts, beam_size=beam_size, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self._suppress,
            max_length=max(len(prompt) for prompt in prompts) + max_new,
        )
        tokens = [[t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
                  for result in results]
        words = self._align(encoded, tokens, frames)
        return [self._hypothesis(result, toks, found, duration)
                for result, toks, found, duration in zip(results, tokens, words, durations,
                                                         strict=True)]

    def _prompts(self, previous: list[str]) -> list[list[int]]:
        """Decoder prompts; CTranslate2 wants the start token at the same place in all,
        so every entry keeps as many previous-text tokens as the shortest has."""
        encoded = [self.tokenizer.encode(" " + text.strip()) if text.strip() else []
                   for text in previous]
        keep = min(PROMPT_TOKENS, *(len(tokens) for tokens in encoded))
        start = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        if keep == 0:
            return [start for _ in encoded]
        return [[self.tokenizer.sot_prev, *tokens[-keep:], *start] for tokens in encoded]

    def _hypothesis(self, result: ctranslate2.models.WhisperGenerationResult,
                    tokens: list[int], words: list[Word], duration: float) -> Hypothesis:
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        text = self.tokenizer.decode(tokens).strip()
        reason = rejection(text=text, tokens=len(tokens), duration=duration,
                           avg_logprob=avg_logprob, no_speech_prob=result.no_speech_prob,
                           options=self.guards)
        if reason is not None:
            if text:
                logger.debug("dropped %r: %s (logprob %.2f, no speech %.2f, ratio %.2f)",
                             text, reason, avg_logprob, result.no_speech_prob,
                             compression_ratio(text))
            words = []
        kept = tuple(word for word in words if word.start < duration)
        return Hypothesis(kept, avg_logprob, result.no_speech_prob, reason)

    def _align(self, encoded: ctranslate2.StorageView, tokens: list[list[int]],
               frames: list[int]) -> list[list[Word]]:
        """Word timings from the cross-attention alignment (as faster-whisper does)."""
        if not any(tokens):
            return [[] for _ in tokens]
        # every batch entry needs some text to align; an empty one gets a stand-in
        stand_in = self.tokenizer.encode(" .")
        texts = [toks or stand_in for toks in tokens]
        alignments = self.model.model.align(encoded, self.tokenizer.sot_sequence, texts,
                                            frames, median_filter_width=7)
        return [self._words(toks, alignment) if toks else []
                for toks, alignment in zip(tokens, alignments, strict=True)]

    def _words(self, tokens: list[int],
               alignment: ctranslate2.models.WhisperAlignmentResult) -> list[Word]:
        words, word_tokens = self.tokenizer.split_to_word_tokens([*tokens, self.tokenizer.eot])
        if len(word_tokens) <= 1 or not alignment.alignments:
            return []
        text_indices = np.array([pair[0] for pair in alignment.alignments])
        time_indices = np.array([pair[1] for pair in alignment.alignments])
        jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
        jump_times = time_indices[jumps] / TOKENS_PER_SECOND
        bounds = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
        probs = alignment.text_token_probs
        found = []
        for i, word in enumerate(words[:-1]):  # the last "word" is the end token
            start, end = int(bounds[i]), int(bounds[i + 1])
            if end >= len(jump_times):
                break
            found.append(Word(word, float(jump_times[start]), float(jump_times[end]),
                              float(np.mean(probs[start:end])) if end > start else 0.0))
        return _merge_punctuation(found)


def _window(frames: int) -> int:
    """Encoder window for ``frames`` of audio: padded, even, at most 30 s."""
    window = max(frames + MIN_PAD_FRAMES, MIN_WINDOW_FRAMES)
    window = -(-window // 100) * 100
    return min(window, MAX_FRAMES)


def _batch(features: list[np.ndarray], window: int) -> ctranslate2.StorageView:
    batch = np.zeros((len(features), features[0].shape[0], window), dtype=np.float32)
    for i, feature in enumerate(features):
        usable = min(feature.shape[-1], window)
        batch[i, :, :usable] = feature[:, :usable]
    return ctranslate2.StorageView.from_array(batch)


def _merge_punctuation(words: list[Word]) -> list[Word]:
    """Fold stand-alone punctuation into the word before it."""
    merged: list[Word] = []
    for word in words:
        if merged and not any(char.isalnum() for char in word.text):
            last = merged[-1]
            merged[-1] = Word(last.text + word.text.strip(), last.start, last.end,
                              last.probability)
        else:
            merged.append(word)
    return merged
