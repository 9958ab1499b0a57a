"""The spool: finished chunks wait on local disk until object storage has them.

A chunk is moved into the spool directory with a JSON sidecar describing it (written
last, atomically: a chunk without a sidecar is not in the spool yet). One background
task uploads the spool oldest first; while the store is down it retries with
exponential backoff and jitter, and recording goes on filling the spool. Only after the
store has verified a chunk (and ``on_uploaded`` has returned) is it removed from disk. A
recorder that restarts finds what is left and uploads it. Keys are deterministic, so an
upload repeated after a crash overwrites the same object, never adds one; for the same
reason ``on_uploaded`` may be called twice for one chunk and must be idempotent.

A spooled file that is missing or no longer matches its SHA-256 cannot be uploaded by
retrying: it is moved to ``corrupt/`` with an error in the log, and the rest go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import shutil
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


class SpooledFileCorrupt(Exception):
    """A spooled chunk's file is missing or differs from its sidecar's SHA-256."""


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
        self.corrupt = 0

    def start(self) -> None:
        """Start the uploader (in a running event loop); it begins with what an earlier
        run left behind."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"spool-{self.directory.name}")
            self._wakeup.set()

    async def add(self, source: Path, chunk: SpooledChunk) -> None:
        """Take a finished chunk file into the spool (moves it)."""
        await asyncio.to_thread(self._store_locally, source, chunk)
        self._idle.clear()
        self._wakeup.set()

    def _store_locally(self, source: Path, chunk: SpooledChunk) -> None:
        target = self.directory / f"{chunk.name}.webm"
        shutil.move(source, target)  # a rename on the same file system
        sidecar = self.directory / f"{chunk.name}.json.tmp"
        sidecar.write_text(json.dumps(asdict(chunk)))
        os.replace(sidecar, sidecar.with_suffix(""))

    def pending(self) -> list[SpooledChunk]:
        """The chunks waiting for upload, oldest first. Blocking (reads the directory)."""
        chunks = []
        for sidecar in self.directory.glob("*.json"):
            try:
                chunks.append(SpooledChunk(**json.loads(sidecar.read_text())))
            except (ValueError, TypeError):
                logger.error("spool: unreadable sidecar %s left in place", sidecar)
        return sorted(chunks, key=lambda c: (c.recording_id, c.start_ms, c.track_id, c.seq))

    async def drain(self, timeout: float) -> bool:
        """Wait until everything is uploaded; False if the time ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await asyncio.to_thread(self.pending):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._idle.clear()
            self._wakeup.set()
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                for chunk in await asyncio.to_thread(self.pending):
                    await self._upload_until_done(chunk)
                if not await asyncio.to_thread(self.pending):
                    self._idle.set()
            except OSError:
                logger.exception("spool: cannot read %s; trying again in %.1f s",
                                 self.directory, self._retry_max)
                await asyncio.sleep(self._retry_max)
                self._wakeup.set()

    async def _upload_until_done(self, chunk: SpooledChunk) -> None:
        delay = self._retry_initial
        stored = False
        while True:
            try:
                if not stored:
                    await asyncio.to_thread(self._upload, chunk)
                    stored = True
                if self._on_uploaded is not None:
                    await self._on_uploaded(chunk)
            except SpooledFileCorrupt as exc:
                self.corrupt += 1
                logger.error("spool: %s cannot be uploaded (%s); moved to %s", chunk.key,
                             exc, self.directory / "corrupt")
                await asyncio.to_thread(self._quarantine, chunk)
                return
            except (StorageError, OSError) as exc:
                self._failed(chunk, delay, exc)
            except Exception:
                logger.exception("spool: %s: %s failed", chunk.key,
                                 "on_uploaded" if stored else "upload")
                self._failed(chunk, delay, None)
            else:
                self.uploads += 1
                await asyncio.to_thread(self._forget, chunk)
                return
            await asyncio.sleep(delay * (0.5 + random.random()))  # backoff with jitter
            delay = min(delay * 2, self._retry_max)

    def _failed(self, chunk: SpooledChunk, delay: float, exc: Exception | None) -> None:
        self.failures += 1
        if exc is not None:
            logger.warning("spool: %s not uploaded (%s); retrying in about %.1f s",
                           chunk.key, exc, delay)

    def _upload(self, chunk: SpooledChunk) -> None:
        try:
            data = (self.directory / f"{chunk.name}.webm").read_bytes()
        except FileNotFoundError as exc:
            raise SpooledFileCorrupt("its file is missing") from exc
        if hashlib.sha256(data).hexdigest() != chunk.sha256:
            raise SpooledFileCorrupt("its file does not match its sha256")
        self._store.put(chunk.key, data)

    def _forget(self, chunk: SpooledChunk) -> None:
        (self.directory / f"{chunk.name}.json").unlink(missing_ok=True)
        (self.directory / f"{chunk.name}.webm").unlink(missing_ok=True)

    def _quarantine(self, chunk: SpooledChunk) -> None:
        corrupt = self.directory / "corrupt"
        corrupt.mkdir(exist_ok=True)
        for suffix in (".webm", ".json"):
            path = self.directory / f"{chunk.name}{suffix}"
            if path.exists():
                os.replace(path, corrupt / path.name)

    async def aclose(self, drain_timeout: float = 0.0) -> None:
        """Stop uploading, after waiting up to ``drain_timeout`` seconds for the spool to
        empty; what is not uploaded stays for the next start. Safe to call twice."""
        if self._task is not None and drain_timeout > 0:
            await self.drain(drain_timeout)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
