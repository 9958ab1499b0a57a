"""One recording of one meeting: the silent participant itself.

It joins like a browser (a join token, the signaling WebSocket, one peer connection to
the SFU), publishes nothing, and receives the tracks of the participants who consented
to recording: the SFU sends it nothing else. Each track goes to a ``TrackRecorder``;
finished chunks go to the manifest and the spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from sqlalchemy.engine import Engine

from app import crud, recordings
from app.config import Settings
from app.db import session_scope
from app.models import ConsentType, Recording, RecordingChunk, RecordingGap, utcnow
from app.security import issue_join_token
from recorder.chunks import ChunkFile
from recorder.rtpclock import MediaClock
from recorder.signaling import SignalingClient
from recorder.spool import Spool, SpooledChunk
from recorder.tap import OpusTap, TranscriptionSink
from recorder.track import Gap, TrackRecorder
from sfu.passthrough import install_passthrough, on_sender_reports

logger = logging.getLogger(__name__)

CLOCK_RATES = {"audio": 48000, "video": 90000}


@dataclass(frozen=True, slots=True)
class Speaker:
    participant_id: uuid.UUID
    name: str
    transcription: bool


class RecorderSession:
    def __init__(self, *, settings: Settings, engine: Engine, recording: Recording,
                 spool: Spool, sink: TranscriptionSink | None = None) -> None:
        self._settings = settings
        self._engine = engine
        self.recording_id = recording.id
        self.meeting_id = recording.meeting_id
        self._prefix = recording.storage_prefix
        self._spool = spool
        self._sink = sink
        self._pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self._pc.on("track", self._track_arrived)
        self._signal: SignalingClient | None = None
        self._tracks: dict[str, str] = {}  # mid -> participant id, from the SFU's offers
        self._clocks: dict[str, MediaClock] = {}  # mid -> clock fed by sender reports
        self._recorders: dict[TrackRecorder, uuid.UUID] = {}  # -> participant id
        self._tasks: set[asyncio.Task[None]] = set()
        self._meeting_start = 0.0
        self.stopped = asyncio.Event()

    # ----------------------------------------------------------------------- joining

    async def start(self) -> None:
        token, self._meeting_start = await asyncio.to_thread(self._admit)
        self._signal = SignalingClient(self._settings.signal_url, token)
        await self._signal.connect()
        self._spawn(self._events(), "recorder-events")
        await self._signal.request("JoinRoom", {"roomId": str(self.meeting_id)})
        logger.info("meeting %s: recorder joined for recording %s", self.meeting_id,
                    self.recording_id)

    def _admit(self) -> tuple[str, float]:
        with session_scope(self._engine) as session:
            meeting = crud.get_meeting(session, meeting_id=self.meeting_id)
            participant = crud.add_recorder(session, meeting=meeting)
            start = (meeting.actual_start or utcnow()).timestamp()
            token, _ = issue_join_token(
                self._settings, meeting_id=meeting.id, participant_id=participant.id,
                user_id=None, role=participant.role, display_name=participant.display_name)
            return token, start

    async def _events(self) -> None:
        assert self._signal is not None
        async for event in self._signal.events():
            if event["method"] == "ReceiveOffer":
                await self._answer(event["params"])
            elif event["method"] == "ConsentChanged":
                self._consent_changed(event["params"])
            elif event["method"] in ("RecordingStopped", "MeetingEnded"):
                self.stopped.set()
        self.stopped.set()  # signaling closed

    async def _answer(self, offer: dict[str, Any]) -> None:
        assert self._signal is not None
        self._tracks.update(offer.get("tracks") or {})
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"],
                                                                  type="offer"))
        for transceiver in self._pc.getTransceivers():
            if transceiver.mid is not None:
                transceiver.direction = "recvonly"
                self._clock_for(transceiver)
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        await self._signal.notify("SendAnswer", {"sdp": self._pc.localDescription.sdp})

    def _clock_for(self, transceiver: RTCRtpTransceiver) -> MediaClock:
        """The transceiver's meeting clock; on first sight, also make its receiver yield
        packets and feed the clock its sender reports (before the receiver starts)."""
        assert transceiver.mid is not None
        clock = self._clocks.get(transceiver.mid)
        if clock is None:
            install_passthrough(transceiver.receiver)
            clock = MediaClock(clock_rate=CLOCK_RATES[transceiver.kind],
                               meeting_start_unix=self._meeting_start)
            on_sender_reports(transceiver.receiver, clock.on_sender_report)
            self._clocks[transceiver.mid] = clock
        return clock

    # ----------------------------------------------------------------------- tracks

    def _track_arrived(self, track: MediaStreamTrack) -> None:
        transceiver = next((t for t in self._pc.getTransceivers()
                            if t.receiver.track is track), None)
        if transceiver is None or transceiver.mid not in self._tracks:
            logger.warning("meeting %s: a track the SFU did not describe", self.meeting_id)
            return
        participant_id = uuid.UUID(self._tracks[transceiver.mid])
        self._spawn(self._record(track, participant_id, self._clock_for(transceiver)),
                    f"record-{participant_id}-{track.kind}")

    async def _record(self, track: MediaStreamTrack, participant_id: uuid.UUID,
                      clock: MediaClock) -> None:
        track_id = uuid.uuid5(self.recording_id, f"{participant_id}:{track.kind}")
        speaker, first_seq, resume_ms = await asyncio.to_thread(
            self._prepare_track, track_id, participant_id, track.kind)
        tap = None
        if track.kind == "audio" and self._sink is not None and speaker.transcription:
            tap = OpusTap(self._sink.open_stream(meeting_id=str(self.meeting_id),
                                                 participant_id=str(participant_id),
                                                 speaker_name=speaker.name))

        async def chunk_done(chunk: ChunkFile, start_ms: int) -> None:
            await self._chunk_done(chunk, start_ms, track_id, participant_id, track.kind)

        async def gap_found(gap: Gap) -> None:
            await asyncio.to_thread(self._add_gap, track_id, gap)

        recorder = TrackRecorder(
            track=track, track_id=track_id, clock=clock,
            directory=self._settings.spool_dir / "open" / str(track_id),
            chunk_seconds=self._settings.recording_chunk_seconds, first_seq=first_seq,
            resume_from_ms=resume_ms, on_chunk=chunk_done, on_gap=gap_found, tap=tap)
        self._recorders[recorder] = participant_id
        try:
            await recorder.run()
        finally:
            self._recorders.pop(recorder, None)

    def _prepare_track(self, track_id: uuid.UUID, participant_id: uuid.UUID, kind: str
                       ) -> tuple[Speaker, int, int | None]:
        """Register the track, name the consent it relies on, find where it left off."""
        with session_scope(self._engine) as session:
            recording = recordings.get_recording(session, recording_id=self.recording_id)
            recordings.add_track(session, recording=recording, participant_id=participant_id,
                                 kind=kind, codec="opus" if kind == "audio" else "vp8",
                                 track_id=track_id)
            consent = crud.latest_consent(session, participant_id=participant_id)
            if ConsentType.recording in consent:
                recordings.rely_on_consent(recording, [consent[ConsentType.recording]])
                session.add(recording)
            participant = crud.get_participant(session, participant_id=participant_id,
                                               meeting_id=self.meeting_id)
            transcription = consent.get(ConsentType.transcription)
            meeting = crud.get_meeting(session, meeting_id=self.meeting_id)
            speaker = Speaker(participant_id, participant.display_name,
                              meeting.transcription_enabled and transcription is not None
                              and transcription.accepted)
            first_seq, resume_ms = recordings.track_progress(session, track_id=track_id)
        return speaker, first_seq, resume_ms

    async def _chunk_done(self, chunk: ChunkFile, start_ms: int, track_id: uuid.UUID,
                          participant_id: uuid.UUID, kind: str) -> None:
        key = f"{self._prefix}{track_id}/{chunk.seq:06d}.webm"
        await asyncio.to_thread(self._add_chunk, chunk, start_ms, key, track_id,
                                participant_id, kind)
        await self._spool.add(chunk.path, SpooledChunk(
            key=key, recording_id=str(self.recording_id), track_id=str(track_id),
            participant_id=str(participant_id), kind=kind, seq=chunk.seq,
            start_ms=start_ms, duration_ms=chunk.duration_ms,
            size_bytes=chunk.size_bytes, sha256=chunk.sha256))

    def _add_chunk(self, chunk: ChunkFile, start_ms: int, key: str, track_id: uuid.UUID,
                   participant_id: uuid.UUID, kind: str) -> None:
        with session_scope(self._engine) as session:
            recordings.add_chunk(session, chunk=RecordingChunk(
                recording_id=self.recording_id, track_id=track_id,
                participant_id=participant_id, kind=kind, seq=chunk.seq,
                start_ms=start_ms, duration_ms=chunk.duration_ms,
                size_bytes=chunk.size_bytes, sha256=chunk.sha256, storage_key=key))

    def _add_gap(self, track_id: uuid.UUID, gap: Gap) -> None:
        with session_scope(self._engine) as session:
            recordings.add_gap(session, gap=RecordingGap(
                recording_id=self.recording_id, track_id=track_id, start_ms=gap.start_ms,
                end_ms=gap.end_ms, reason=gap.reason))

    def _consent_changed(self, params: dict[str, Any]) -> None:
        """Someone withdrew transcription consent: stop tapping their audio now.
        (Withdrawn recording consent needs nothing here: the SFU stops their tracks.)"""
        if (params.get("consent") or {}).get("transcription") is not False:
            return
        for recorder, participant_id in list(self._recorders.items()):
            if str(participant_id) == params.get("participantId"):
                recorder.stop_tap()

    async def publish_caption(self, caption: dict[str, Any]) -> None:
        """Hand a caption to the meeting (the API stores finals and tells everyone)."""
        if self._signal is None:
            return
        params = {key: value for key, value in caption.items()
                  if key not in ("meetingId", "streamId")}
        await self._signal.notify("PublishTranscript", params)

    # ----------------------------------------------------------------------- lifecycle

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("meeting %s: recorder task %s failed", self.meeting_id,
                         task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        """Leave the meeting and close every track's last chunk. Safe to call twice."""
        if self._signal is not None:
            with contextlib.suppress(Exception):
                await self._signal.request("LeaveRoom", timeout=5)
            await self._signal.aclose()
            self._signal = None
        await self._pc.close()  # ends the tracks: each recorder closes its last chunk
        for task in list(self._tasks):
            if task.get_name().startswith("record-"):
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 10)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
