"""The recorder process: finds recordings to make, claims them, runs their sessions.

Any number of recorders (``verbatim recorder``, or the one inside ``verbatim serve`` on
the embedded defaults) share the database: a recorder claims a recording with a lease it
renews while it records, so one that dies is replaced once its lease runs out. When a
recording is stopped (by the host, or because the meeting ended) its recorder closes the
last chunks, waits for the spool, and finalizes it; a recording whose recorder is gone is
finalized by whichever recorder notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

from sqlalchemy.engine import Engine

from app import recordings
from app.config import Settings
from app.db import session_scope
from app.models import Recording, RecordingStatus
from app.storage import ObjectStore
from recorder.session import RecorderSession
from recorder.spool import Spool, SpooledChunk
from recorder.tap import TranscriptionSink

logger = logging.getLogger(__name__)

SPOOL_DRAIN_SECONDS = 60.0


class RecorderService:
    def __init__(self, *, settings: Settings, engine: Engine, store: ObjectStore,
                 sink: TranscriptionSink | None = None) -> None:
        self.recorder_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._settings = settings
        self._engine = engine
        self._sink = sink
        self.spool = Spool(settings.spool_dir / "pending", store, on_uploaded=self._uploaded)
        self._sessions: dict[uuid.UUID, RecorderSession] = {}
        self._runs: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._engine_to_close: Any = None

    async def start(self) -> None:
        if self._sink is None:
            self._sink = await self._default_sink()
        self.spool.start()
        self._loop_task = asyncio.create_task(self._loop(), name="recorder-service")

    async def _loop(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # one bad tick (database restarting) must not end recording
                logger.exception("recorder %s: tick failed", self.recorder_id)
            await asyncio.sleep(self._settings.recorder_poll_seconds)

    async def _tick(self) -> None:
        for recording in await asyncio.to_thread(self._open_recordings):
            running = recording.id in self._runs
            if running:
                await asyncio.to_thread(self._claim, recording.id)  # renew the lease
                if recording.status == RecordingStatus.stopping:
                    self._sessions[recording.id].stopped.set()
            elif await asyncio.to_thread(self._claim, recording.id):
                if recording.status == RecordingStatus.recording:
                    self._runs[recording.id] = asyncio.create_task(
                        self._run(recording), name=f"recording-{recording.id}")
                else:  # stopping, and its recorder is gone
                    await asyncio.to_thread(self._finalize, recording.id)

    async def _default_sink(self) -> TranscriptionSink | None:
        """Live captions as the settings say: an engine here, a worker, or none."""
        mode = self._settings.transcription_mode
        if mode == "embedded":
            from ai.engine import TranscriptionEngine
            from ai.sink import EngineSink

            engine = await TranscriptionEngine.from_settings(self._settings)
            self._engine_to_close = engine
            return EngineSink(engine, self._relay_caption)
        if mode == "worker":
            from ai.client import TranscriberClient

            return TranscriberClient(self._settings.transcriber_ws_url, self._relay_caption)
        return None

    async def _relay_caption(self, caption: dict[str, Any]) -> None:
        meeting_id = caption.get("meetingId")
        for session in list(self._sessions.values()):
            if str(session.meeting_id) == meeting_id:
                await session.publish_caption(caption)
                return

    def _open_recordings(self) -> list[Recording]:
        with session_scope(self._engine) as session:
            return list(recordings.open_recordings(session))

    def _claim(self, recording_id: uuid.UUID) -> bool:
        with session_scope(self._engine) as session:
            return recordings.claim(session, recording_id=recording_id,
                                    recorder_id=self.recorder_id,
                                    lease_seconds=self._settings.recorder_lease_seconds)

    async def _run(self, recording: Recording) -> None:
        started = time.monotonic()
        session = RecorderSession(settings=self._settings, engine=self._engine,
                                  recording=recording, spool=self.spool, sink=self._sink)
        self._sessions[recording.id] = session
        try:
            await session.start()
            await session.stopped.wait()
        except Exception:
            logger.exception("recording %s: the recorder failed", recording.id)
        finally:
            await session.stop()
            self._sessions.pop(recording.id, None)
        drained = await self.spool.drain(SPOOL_DRAIN_SECONDS)
        finished = await asyncio.to_thread(self._finish, recording.id, drained)
        self._runs.pop(recording.id, None)
        logger.info("recording %s: recorder done in %.1f s (%s)", recording.id,
                    time.monotonic() - started, "finalized" if finished else "released")

    def _finish(self, recording_id: uuid.UUID, drained: bool) -> bool:
        """Finalize a stopped recording; leave a still-running one for the next recorder."""
        with session_scope(self._engine) as session:
            recording = session.get(Recording, recording_id)
            if recording is None:
                return False
            if recording.status == RecordingStatus.stopping:
                if not drained:
                    recording.error = "some chunks were still uploading when it was finalized"
                recordings.finalize_recording(session, recording=recording)
                recordings.release(session, recording_id=recording_id,
                                   recorder_id=self.recorder_id)
                return True
            recordings.release(session, recording_id=recording_id,
                               recorder_id=self.recorder_id)
            return False

    def _finalize(self, recording_id: uuid.UUID) -> None:
        with session_scope(self._engine) as session:
            recording = session.get(Recording, recording_id)
            if recording is not None and recording.status == RecordingStatus.stopping:
                recordings.finalize_recording(session, recording=recording)
                recordings.release(session, recording_id=recording_id,
                                   recorder_id=self.recorder_id)
                logger.info("recording %s: finalized after its recorder was gone",
                            recording_id)

    async def _uploaded(self, chunk: SpooledChunk) -> None:
        def mark() -> None:
            with session_scope(self._engine) as session:
                recordings.mark_uploaded(session, track_id=uuid.UUID(chunk.track_id),
                                         seq=chunk.seq)

        await asyncio.to_thread(mark)

    async def aclose(self) -> None:
        """Stop recording here (another recorder, or this one restarted, takes over)."""
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        for session in list(self._sessions.values()):
            await session.stop()
        for task in list(self._runs.values()):
            task.cancel()
        await asyncio.gather(*self._runs.values(), return_exceptions=True)
        self._runs.clear()
        await self.spool.aclose()
        closer = getattr(self._sink, "aclose", None)
        if closer is not None:
            await closer()
        if self._engine_to_close is not None:
            await self._engine_to_close.aclose()

