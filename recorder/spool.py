"""The spool: finished chunks wait on local disk until object storage has them.

A chunk is moved into the spool directory with a JSON sidecar describing it (written
last, atomically: a chunk without a sidecar is not in the spool yet). One background
task uploads the spool oldest first; while the store is down it retries with
exponential backoff and jitter, and recording goes on filling the spool. Only after the
store has verified a chunk is it removed from disk. A recorder that restarts finds what
is left and uploads it. Keys are deterministic, so an upload repeated after a crash
overwrites the same object, never adds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from app.storage import ObjectStore, StorageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpooledChunk:
    key: str
    recording_id: str
    track_id: str
    participant_id: str
    kind: str
    seq: int
    start_ms: int
    duration_ms: int
    size_bytes: int
    sha256: str

    @property
    def name(self) -> str:
        return hashlib.sha1(self.key.encode()).hexdigest()


Uploaded = Callable[[SpooledChunk], Awaitable[None]]


class Spool:
    def __init__(
        self,
        directory: Path,
        store: ObjectStore,
        *,
        on_uploaded: Uploaded | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 15.0,
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._store = store
        self._on_uploaded = on_uploaded
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.uploads = 0
        self.failures = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"spool-{self.directory.name}")
            self._wakeup.set()  # whatever an earlier run left behind

    async def add(self, source: Path, chunk: SpooledChunk) -> None:
        """Take a finished chunk file into the spool (moves it)."""
        await asyncio.to_thread(self._store_locally, source, chunk)
        self._idle.clear()
        self._wakeup.set()

    def _store_locally(self, source: Path, chunk: SpooledChunk) -> None:
        target = self.directory / f"{chunk.name}.webm"
        os.replace(source, target)
        sidecar = self.directory / f"{chunk.name}.json.tmp"
        sidecar.write_text(json.dumps(asdict(chunk)))
        os.replace(sidecar, sidecar.with_suffix(""))

    def pending(self) -> list[SpooledChunk]:
        chunks = []
        for sidecar in self.directory.glob("*.json"):
            try:
                chunks.append(SpooledChunk(**json.loads(sidecar.read_text())))
            except (ValueError, TypeError):
                logger.error("spool: unreadable sidecar %s left in place", sidecar)
        return sorted(chunks, key=lambda c: (c.recording_id, c.start_ms, c.track_id, c.seq))

    async def drain(self, timeout: float) -> bool:
        """Wait until everything is uploaded; False if the time ran out first."""
        if not await asyncio.to_thread(self.pending):
            return True
        self._idle.clear()
        self._wakeup.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            for chunk in await asyncio.to_thread(self.pending):
                await self._upload_until_done(chunk)
            if not await asyncio.to_thread(self.pending):
                self._idle.set()

    async def _upload_until_done(self, chunk: SpooledChunk) -> None:
        delay = self._retry_initial
        while True:
            try:
                await asyncio.to_thread(self._upload, chunk)
            except (StorageError, OSError) as exc:
                self.failures += 1
                logger.warning("spool: %s not uploaded (%s); retrying in %.1f s",
                               chunk.key, exc, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._retry_max)
                continue
            self.uploads += 1
            if self._on_uploaded is not None:
                await self._on_uploaded(chunk)
            await asyncio.to_thread(self._forget, chunk)
            return

    def _upload(self, chunk: SpooledChunk) -> None:
        data = (self.directory / f"{chunk.name}.webm").read_bytes()
        if hashlib.sha256(data).hexdigest() != chunk.sha256:
            raise OSError(f"spooled file for {chunk.key} does not match its sha256")
        self._store.put(chunk.key, data)

    def _forget(self, chunk: SpooledChunk) -> None:
        (self.directory / f"{chunk.name}.json").unlink(missing_ok=True)
        (self.directory / f"{chunk.name}.webm").unlink(missing_ok=True)

    async def aclose(self) -> None:
        """Stop uploading; what is not uploaded stays for the next start. Safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
