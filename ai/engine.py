"""The transcription engine: one Whisper model, many speaker streams.

One task on the event loop schedules; one thread runs Whisper. Each round the scheduler
takes the streams whose work has waited longest (finals before partials, oldest deadline
first, at most one job per stream, which makes it round robin among equals), sends up to
``max_batch`` of them through the model in one batch, and hands the results back to their
streams on the loop.

Under overload partial decodes wait, and when they run they decode the newest audio, so
the partials in between are dropped (``coalesced_partials``). Finals are never dropped:
an ended utterance stays queued until it is decoded. ``stats()`` reports the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from faster_whisper import WhisperModel

from ai.decoder import Hypothesis, WhisperDecoder
from ai.exceptions import CapacityError, EngineClosedError
from ai.model import load_model
from ai.stream import Job, SpeechStream, StreamOptions
from app.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineStats:
    streams: int
    finals_pending: int  # ended utterances waiting for their final decode
    final_seconds_pending: float  # their audio
    partials_due: int
    oldest_wait_seconds: float  # how long the oldest waiting job has waited
    decodes: int
    batches: int
    coalesced_partials: int  # partial decodes skipped because the worker was busy
    busy_seconds: float  # time spent in inference


class TranscriptionEngine:
    """Streams share the engine's model; the engine owns its scheduling task."""

    def __init__(self, model: WhisperModel, *, language: str = "en", beam_size: int = 5,
                 max_batch: int = 4, max_streams: int = 64,
                 options: StreamOptions | None = None) -> None:
        self.decoder = WhisperDecoder(model, language=language)
        self.beam_size = beam_size
        self.max_batch = max_batch
        self.max_streams = max_streams
        self.options = options or StreamOptions()
        self._streams: dict[str, SpeechStream] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._decodes = 0
        self._batches = 0
        self._busy = 0.0
        self._coalesced_gone = 0  # from streams that have finished

    @classmethod
    async def from_settings(cls, settings: Settings) -> TranscriptionEngine:
        """Load the configured model (in a thread) and build an engine on it."""
        model = await asyncio.to_thread(load_model, settings)
        options = StreamOptions(partial_seconds=settings.transcription_partial_seconds)
        return cls(model, language=settings.whisper_language,
                   beam_size=settings.whisper_beam_size,
                   max_batch=settings.transcription_max_batch,
                   max_streams=settings.transcription_max_streams, options=options)

    def stream(self, key: str, *, start_ms: int = 0, segment_prefix: str | None = None
               ) -> SpeechStream:
        """A new speaker stream; ``start_ms`` is the meeting time of its first sample.

        ``key`` is unique among the engine's open streams; segment ids are
        ``<segment_prefix or key>-<n>``.
        """
        if self._closed:
            raise EngineClosedError("the transcription engine is closed")
        if len(self._streams) >= self.max_streams:
            raise CapacityError(f"this worker already serves {self.max_streams} streams")
        if key in self._streams:
            raise ValueError(f"stream {key} is already open")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="transcription")
        stream = SpeechStream(self, key, start_ms=start_ms, options=self.options,
                              segment_prefix=segment_prefix)
        self._streams[key] = stream
        return stream

    def wake(self) -> None:
        self._wake.set()

    def forget(self, stream: SpeechStream) -> None:
        if self._streams.get(stream.key) is stream:
            del self._streams[stream.key]
            self._coalesced_gone += stream.coalesced_partials

    def stats(self) -> EngineStats:
        streams = list(self._streams.values())
        now = time.monotonic()
        waits = [since for s in streams if (since := s.waiting_since()) is not None]
        return EngineStats(
            streams=len(streams),
            finals_pending=sum(s.pending_finals for s in streams),
            final_seconds_pending=round(sum(s.pending_final_seconds for s in streams), 2),
            partials_due=sum(s.partial_due for s in streams),
            oldest_wait_seconds=round(now - min(waits), 3) if waits else 0.0,
            decodes=self._decodes, batches=self._batches,
            coalesced_partials=self._coalesced_gone + sum(s.coalesced_partials
                                                          for s in streams),
            busy_seconds=round(self._busy, 3))

    async def aclose(self) -> None:
        """Close every stream and stop; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for stream in list(self._streams.values()):
            await stream.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    # --- scheduling --------------------------------------------------------------------

    def _next_batch(self) -> list[Job]:
        """Finals first; among jobs of one kind the oldest deadline first."""
        for final in (True, False):
            jobs = [job for stream in self._streams.values()
                    if (job := stream.next_job(final=final)) is not None]
            if jobs:
                jobs.sort(key=lambda job: job.deadline)
                return jobs[:self.max_batch]
        return []

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._next_batch()
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            for job in batch:
                job.stream.started(job)
            final = batch[0].final
            results = await loop.run_in_executor(self._executor, self._decode, batch, final)
            for job, hypothesis in zip(batch, results, strict=True):
                try:
                    job.stream.finished(job, hypothesis)
                except Exception:
                    logger.exception("stream %s: applying a decode failed", job.stream.key)

    def _decode(self, batch: list[Job], final: bool) -> list[Hypothesis | None]:
        """In the inference thread: one batch through Whisper."""
        started = time.perf_counter()
        try:
            results: list[Hypothesis | None] = list(self.decoder.decode(
                [job.request for job in batch], beam_size=self.beam_size if final else 1))
        except Exception:
            logger.exception("Whisper failed on a batch of %d (streams %s)", len(batch),
                             ", ".join(job.stream.key for job in batch))
            results = [None] * len(batch)
        elapsed = time.perf_counter() - started
        self._busy += elapsed
        self._decodes += len(batch)
        self._batches += 1
        logger.debug("decoded %d %s in %.3f s", len(batch), "finals" if final else "partials",
                     elapsed)
        return results
