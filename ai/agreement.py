"""Local agreement: commit the words two consecutive hypotheses agree on.

This is whisper_streaming's LocalAgreement-2 (Machacek et al., 2023). Every partial
decode covers the whole uncommitted buffer; a word is committed once the current and
the previous hypothesis both start with it. Committed words are never revised.

Times are seconds on the stream's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ai.wer import normalize


@dataclass(frozen=True, slots=True)
class TimedWord:
    text: str  # with its leading space, as Whisper wrote it
    start: float
    end: float
    probability: float = 1.0

    @property
    def key(self) -> str:
        return " ".join(normalize(self.text))


class LocalAgreement:
    """Tracks one utterance's committed words and its latest tentative words."""

    def __init__(self) -> None:
        self.committed: list[TimedWord] = []
        self.tentative: list[TimedWord] = []

    @property
    def committed_end(self) -> float:
        return self.committed[-1].end if self.committed else 0.0

    def insert(self, words: list[TimedWord], *, stable_until: float = float("inf"),
               min_probability: float = 0.0) -> list[TimedWord]:
        """Take a new hypothesis; return the words it newly commits.

        Words ending after ``stable_until`` (the end of the audio, less a margin: the
        last word may be cut off), and words the model gives less than
        ``min_probability``, are not committed yet: the utterance's final decode settles
        them if no later pair of hypotheses does.
        """
        new = self._after_committed(words)
        agreed = 0
        for previous, current in zip(self.tentative, new, strict=False):
            if previous.key != current.key or current.end > stable_until \
                    or current.probability < min_probability:
                break
            agreed += 1
        committed = new[:agreed]
        self.committed.extend(committed)
        self.tentative = new[agreed:]
        return committed

    def commit_all(self, words: list[TimedWord]) -> list[TimedWord]:
        """The end of an utterance: everything in the last hypothesis is committed."""
        new = self._after_committed(words)
        self.committed.extend(new)
        self.tentative = []
        return new

    def _after_committed(self, words: list[TimedWord]) -> list[TimedWord]:
        """The part of a hypothesis that follows what is already committed.

        Whisper re-transcribes committed audio still in the buffer: drop words that end
        before the committed end, then any run of 1 to 5 words that repeats the end of
        the committed text (the word timings are only roughly right).
        """
        cut = self.committed_end
        new = [word for word in words if word.end > cut + 0.05 or not self.committed]
        if not self.committed or not new or new[0].start > cut + 1.0:
            return new
        for n in range(min(5, len(new), len(self.committed)), 0, -1):
            tail = [word.key for word in self.committed[-n:]]
            if [word.key for word in new[:n]] == tail:
                return new[n:]
        return new
