"""One speaker's audio in, caption events out.

``SpeechStream`` has the shape of livekit agents' STT stream: ``push_audio`` /
``flush`` / ``end_input`` / ``aclose``, consumed with ``async for``. Its streaming
policy:

- Silero VAD gates the audio: only utterances (speech plus a little padding) are kept;
  silence costs no inference and cannot turn into text.
- While someone speaks, the engine decodes the utterance's uncommitted buffer at a
  steady pace (``partial_seconds`` of new audio); each decode is a partial caption.
- Words two consecutive decodes agree on are committed (local agreement) and sent as a
  final caption at once; the partial line then carries only the words still moving.
- When the utterance ends (VAD silence, ``flush``, ``end_input``, a gap in the audio or
  the buffer reaching ``max_buffer_seconds``) the rest is decoded once more, with beam
  search, and committed.
- After a commit, a buffer longer than ``trim_seconds`` drops the committed audio, and
  the committed text becomes the decoder's prompt, so inference cost and latency stay
  flat however long someone talks.

All of this runs on the event loop and costs microseconds per frame; Whisper itself runs
in the engine's inference thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ai.agreement import LocalAgreement, TimedWord
from ai.decoder import DecodeRequest, Hypothesis
from ai.events import CaptionEvent
from ai.exceptions import StreamClosedError
from ai.vad import Activity, GateChange, GateOptions, SileroStream, SpeechGate

if TYPE_CHECKING:
    from ai.engine import TranscriptionEngine

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
TAIL_SECONDS = 2.0
CLOCK_TOLERANCE_MS = 250


@dataclass(frozen=True, slots=True)
class StreamOptions:
    partial_seconds: float = 0.5
    first_partial_seconds: float = 1.0  # less audio than this decodes badly
    holdback_seconds: float = 0.6  # words ending this close to the buffer end stay partial
    min_commit_probability: float = 0.5  # less sure words wait for the final decode
    context_seconds: float = 0.0  # an utterance this soon after the last is prompted with it
    trim_seconds: float = 8.0
    max_buffer_seconds: float = 20.0
    gate: GateOptions = field(default_factory=GateOptions)


class Utterance:
    """Audio from the start of speech to its end, and what was committed of it."""

    def __init__(self, start: float, audio: np.ndarray, context: str = "") -> None:
        self.start = start  # meeting seconds of the first sample
        self.context = context  # what the speaker said just before
        self._chunks = [audio]
        self.length = len(audio)
        self.trimmed = 0  # samples dropped from the front after commits
        self.decoded = 0  # buffer length at the last partial decode
        self.agreement = LocalAgreement()
        self.closed_at: float | None = None  # monotonic time it ended

    def append(self, audio: np.ndarray) -> None:
        self._chunks.append(audio)
        self.length += len(audio)

    def truncate(self, length: int) -> None:
        audio = self.audio()[:length]
        self._chunks = [audio]
        self.length = len(audio)

    def audio(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    def request(self) -> DecodeRequest:
        kept = self.trimmed / SAMPLE_RATE
        said = "".join(w.text for w in self.agreement.committed if w.end <= kept + 0.01)
        return DecodeRequest(self.audio()[self.trimmed:].copy(), self.context + said)

    @property
    def text(self) -> str:
        return "".join(word.text for word in self.agreement.committed)

    @property
    def seconds(self) -> float:
        return self.length / SAMPLE_RATE

    def words(self, hypothesis: Hypothesis) -> list[TimedWord]:
        """The hypothesis' words in seconds from the utterance start."""
        offset = self.trimmed / SAMPLE_RATE
        return [TimedWord(w.text, w.start + offset, w.end + offset, w.probability)
                for w in hypothesis.words]

    def trim(self, after_seconds: float) -> None:
        """Drop committed audio from the front once the buffer is long."""
        if (self.length - self.trimmed) / SAMPLE_RATE <= after_seconds:
            return
        cut = int(self.agreement.committed_end * SAMPLE_RATE)
        if cut > self.trimmed:
            self.trimmed = min(cut, self.length)


@dataclass(slots=True)
class Job:
    """One decode for one stream: a partial of the open utterance or a final."""

    stream: SpeechStream
    utterance: Utterance
    final: bool
    request: DecodeRequest
    deadline: float


class SpeechStream:
    """A speaker stream; create it with ``TranscriptionEngine.stream``."""

    def __init__(self, engine: TranscriptionEngine, key: str, *, start_ms: int,
                 options: StreamOptions, segment_prefix: str | None = None) -> None:
        self.key = key
        self._prefix = segment_prefix or key
        self.options = options
        self._engine = engine
        self._origin = start_ms / 1000  # meeting seconds of stream sample 0
        self._samples = 0
        self._vad = SileroStream()
        self._gate = SpeechGate(options.gate)
        self._tail = np.zeros(0, dtype=np.float32)  # recent audio, for the pre-roll
        self._open: Utterance | None = None
        self._closed: deque[Utterance] = deque()
        self._due_since: float | None = None  # when a partial decode became due
        self._events: asyncio.Queue[CaptionEvent | None] = asyncio.Queue()
        self._segment = 0
        self._shown: str | None = None  # text of the partial line now on screen
        self._context = ""  # the last utterance's text, to prompt the next
        self._context_end = float("-inf")
        self.busy = False  # a decode for this stream is in the inference thread
        self.input_ended = False
        self.closed = False
        self.coalesced_partials = 0

    # --- the caller's side ---------------------------------------------------------

    def push_audio(self, pcm: np.ndarray | bytes, meeting_ms: int | None = None) -> None:
        """Add 16 kHz mono audio: int16 samples, float32 in [-1, 1], or s16le bytes.

        ``meeting_ms`` is the meeting time of the first sample; when it jumps away from
        where the stream's clock is, the open utterance ends and the clock follows.
        """
        if self.input_ended or self.closed:
            raise StreamClosedError(f"stream {self.key} takes no more audio")
        audio = _float_audio(pcm)
        if meeting_ms is not None:
            self._follow_clock(meeting_ms)
        if not len(audio):
            return
        self._samples += len(audio)
        self._tail = np.concatenate([self._tail, audio])
        if self._open is not None:
            self._open.append(audio)
        for change in self._gate.feed(self._vad(audio)):
            self._on_gate(change)
        keep = max(int(TAIL_SECONDS * SAMPLE_RATE), len(audio) + SAMPLE_RATE)
        self._tail = self._tail[-keep:]
        self._check_partial()
        self._check_length()

    def flush(self) -> None:
        """End the utterance now: what was said so far becomes final."""
        if self.closed:
            return
        self._close_open(self._samples, force=True)
        self._gate.reset()

    def end_input(self) -> None:
        """No more audio; the iteration ends once the last final is out."""
        if self.input_ended or self.closed:
            return
        self.flush()
        self.input_ended = True
        self._maybe_finished()

    async def aclose(self) -> None:
        """Stop now, dropping what is not yet transcribed. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.input_ended = True
        self._open = None
        self._closed.clear()
        self._engine.forget(self)
        self._events.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[CaptionEvent]:
        return self

    async def __anext__(self) -> CaptionEvent:
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)  # later calls stop too
            raise StopAsyncIteration
        return event

    # --- the engine's side -----------------------------------------------------------

    def next_job(self, *, final: bool) -> Job | None:
        if self.busy or self.closed:
            return None
        if final:
            if not self._closed:
                return None
            utterance = self._closed[0]
            assert utterance.closed_at is not None
            return Job(self, utterance, True, utterance.request(), utterance.closed_at)
        if self._due_since is None or self._open is None:
            return None
        return Job(self, self._open, False, self._open.request(), self._due_since)

    def started(self, job: Job) -> None:
        self.busy = True
        if job.final:
            self._closed.popleft()
        else:
            if job.utterance.decoded:
                missed = (job.utterance.length - job.utterance.decoded) / SAMPLE_RATE
                self.coalesced_partials += max(0, int(missed / self.options.partial_seconds) - 1)
            job.utterance.decoded = job.utterance.length
            self._due_since = None

    def finished(self, job: Job, hypothesis: Hypothesis | None) -> None:
        """Apply a decode's result (None: the decode failed) and emit captions."""
        self.busy = False
        if self.closed:
            return
        utterance = job.utterance
        words = utterance.words(hypothesis) if hypothesis is not None else []
        if job.final:
            self._emit(utterance, utterance.agreement.commit_all(words), final=True)
            self._retract_partial()
            self._context = utterance.text
            self._context_end = utterance.start + utterance.seconds
        else:
            stable = utterance.seconds - self.options.holdback_seconds
            committed = utterance.agreement.insert(
                words, stable_until=stable, min_probability=self.options.min_commit_probability)
            if committed:
                self._emit(utterance, committed, final=True)
            self._emit(utterance, utterance.agreement.tentative, final=False)
            utterance.trim(self.options.trim_seconds)
        self._check_partial()
        self._maybe_finished()

    def waiting_since(self) -> float | None:
        """When this stream's oldest waiting work became due, if any waits."""
        if self._closed and self._closed[0].closed_at is not None:
            return self._closed[0].closed_at
        return self._due_since

    @property
    def pending_finals(self) -> int:
        return len(self._closed)

    @property
    def pending_final_seconds(self) -> float:
        return sum((u.length - u.trimmed) / SAMPLE_RATE for u in self._closed)

    @property
    def partial_due(self) -> bool:
        return self._due_since is not None

    # --- policy ------------------------------------------------------------------------

    def _on_gate(self, change: GateChange) -> None:
        if change.activity is Activity.speech:
            self._open_at(change.sample)
        else:
            keep = int(self.options.gate.post_roll * SAMPLE_RATE)
            self._close_open(min(change.sample + keep, self._samples),
                             force=self._gate.is_speech(change.speech_samples))

    def _open_at(self, sample: int, *, pre_roll: bool = True) -> None:
        if self._open is not None:
            return
        before = int(self.options.gate.pre_roll * SAMPLE_RATE) if pre_roll else 0
        first = max(sample - before, self._samples - len(self._tail))
        audio = self._tail[first - (self._samples - len(self._tail)):].copy()
        start = self._origin + first / SAMPLE_RATE
        context = self._context if start - self._context_end < self.options.context_seconds \
            else ""
        self._open = Utterance(start, audio, context[-200:])
        logger.debug("stream %s: speech at %.2f s", self.key, self._open.start)

    def _close_open(self, end_sample: int, *, force: bool) -> None:
        """End the open utterance at ``end_sample``; keep it for a final decode when
        ``force`` (it held enough speech), else drop it."""
        utterance, self._open = self._open, None
        self._due_since = None
        if utterance is None:
            return
        start_sample = round((utterance.start - self._origin) * SAMPLE_RATE)
        utterance.truncate(max(0, end_sample - start_sample))
        if not force or utterance.length - utterance.trimmed <= 0:
            self._retract_partial()
            return
        utterance.closed_at = time.monotonic()
        self._closed.append(utterance)
        self._engine.wake()

    def _check_partial(self) -> None:
        utterance = self._open
        if utterance is None or self._due_since is not None:
            return
        fresh = (utterance.length - max(utterance.decoded, utterance.trimmed)) / SAMPLE_RATE
        needed = self.options.partial_seconds if utterance.decoded \
            else self.options.first_partial_seconds
        if fresh >= needed:
            self._due_since = time.monotonic()
            self._engine.wake()

    def _check_length(self) -> None:
        """An utterance nobody could trim (no agreement yet) ends at the limit."""
        utterance = self._open
        if utterance is None or self.busy:
            return
        if (utterance.length - utterance.trimmed) / SAMPLE_RATE >= self.options.max_buffer_seconds:
            self._close_open(self._samples, force=True)
            self._open_at(self._samples, pre_roll=False)

    def _follow_clock(self, meeting_ms: int) -> None:
        expected_ms = (self._origin + self._samples / SAMPLE_RATE) * 1000
        if abs(meeting_ms - expected_ms) <= CLOCK_TOLERANCE_MS:
            return
        logger.info("stream %s: audio jumps %d ms; the clock follows", self.key,
                    round(meeting_ms - expected_ms))
        self.flush()
        self._tail = np.zeros(0, dtype=np.float32)
        self._origin = meeting_ms / 1000 - self._samples / SAMPLE_RATE

    def _maybe_finished(self) -> None:
        if self.input_ended and not self.closed and not self.busy and not self._closed \
                and self._open is None:
            self.closed = True
            self._engine.forget(self)
            self._events.put_nowait(None)

    # --- events ------------------------------------------------------------------------

    def _segment_id(self) -> str:
        return f"{self._prefix}-{self._segment}"

    def _emit(self, utterance: Utterance, words: list[TimedWord], *, final: bool) -> None:
        text = "".join(word.text for word in words).strip()
        if not final and text == (self._shown or ""):
            return
        if not words:
            return
        self._events.put_nowait(CaptionEvent(
            segment_id=self._segment_id(), stream=self.key,
            start=round(utterance.start + words[0].start, 3),
            end=round(utterance.start + words[-1].end, 3), text=text, final=final))
        if final:
            self._segment += 1
            self._shown = None
        else:
            self._shown = text

    def _retract_partial(self) -> None:
        """A partial line whose words came to nothing is withdrawn by an empty final."""
        if self._shown is None:
            return
        now = self._origin + self._samples / SAMPLE_RATE
        self._events.put_nowait(CaptionEvent(
            segment_id=self._segment_id(), stream=self.key, start=round(now, 3),
            end=round(now, 3), text="", final=True))
        self._segment += 1
        self._shown = None


def _float_audio(pcm: np.ndarray | bytes) -> np.ndarray:
    if isinstance(pcm, bytes | bytearray | memoryview):
        pcm = np.frombuffer(pcm, dtype="<i2")
    if pcm.dtype == np.int16:
        return pcm.astype(np.float32) / 32768.0
    return np.array(pcm, dtype=np.float32).reshape(-1)  # a copy: callers reuse buffers
