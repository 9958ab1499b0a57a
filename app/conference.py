"""The live side of meetings in this process: signaling connections, fan-out and the SFU.

One ``Conference`` per API process. Each browser holds one WebSocket (``/v1/signal``)
speaking JSON-RPC 2.0 (``docs/signaling.md``). Room state (who is in, muted, chat cache)
lives behind ``app.rooms``; events for everyone in a meeting go through its pub/sub, so
clients on other API instances see them too. SDP offers and ICE candidates are local:
the participant's peer connection lives in this process's SFU.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.engine import Engine
from starlette.websockets import WebSocketState

from app import crud, recordings, transcripts
from app.config import Settings
from app.db import session_scope
from app.exceptions import InvalidToken, MeetingEnded, NotFound, TokenExpired
from app.models import (
    ChatMessage,
    ConnectionState,
    MeetingStatus,
    Participant,
    Role,
    TranscriptSegment,
)
from app.rooms import ParticipantState, RoomFull, RoomState
from app.security import JoinClaims, decode_join_token
from app.signaling import protocol
from app.signaling.protocol import ErrorCode, ProtocolError
from sfu import Sfu
from sfu.exceptions import SfuError

logger = logging.getLogger(__name__)

CLOSE_INVALID_TOKEN = 4001
CLOSE_MEETING_ENDED = 4004
CLOSE_POLICY = 4008
CLOSE_REPLACED = 4009
OUTBOX_LIMIT = 256
ERROR_LIMIT = 100  # consecutive bad messages before the connection is closed


@dataclass(eq=False)
class Connection:
    """One signaling WebSocket, with its own writer so a slow client never stalls others."""

    claims: JoinClaims
    websocket: WebSocket
    # text to send, (close code, reason) to close after what is queued, None to stop
    outbox: asyncio.Queue[str | tuple[int, str] | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=OUTBOX_LIMIT)
    )
    joined: bool = False
    left: bool = False
    errors: int = 0

    @property
    def meeting_id(self) -> uuid.UUID:
        return self.claims.meeting_id

    @property
    def participant_id(self) -> uuid.UUID:
        return self.claims.participant_id

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.put_nowait(json.dumps(message, separators=(",", ":"), default=str))
        except asyncio.QueueFull:
            logger.warning("meeting %s: dropping a message to slow participant %s",
                           self.meeting_id, self.participant_id)


Handler = Callable[[Connection, Any], Awaitable[Any]]


class Conference:
    def __init__(self, *, settings: Settings, engine: Engine, rooms: RoomState, sfu: Sfu) -> None:
        self._settings = settings
        self._engine = engine
        self._rooms = rooms
        self._sfu = sfu
        self._local: dict[uuid.UUID, dict[uuid.UUID, Connection]] = {}
        self._subscriptions: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._grace: dict[uuid.UUID, asyncio.Task[None]] = {}
        # meeting -> participants whose latest recording answer is yes (the recorder's
        # receive policy: the SFU sends the recorder nobody else)
        self._recording_consent: dict[uuid.UUID, frozenset[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._handlers: dict[str, Handler] = {
            "JoinRoom": self._join_room,
            "SendAnswer": self._send_answer,
            "SendOffer": self._send_offer,
            "SendIceCandidate": self._send_ice_candidate,
            "UpdateState": self._update_state,
            "SendChatMessage": self._send_chat_message,
            "PublishTranscript": self._publish_transcript,
            "KeepAlive": self._keepalive,
            "LeaveRoom": self._leave_room,
        }

    # ----------------------------------------------------------------------- lifecycle

    async def aclose(self) -> None:
        """Close every connection and cancel every task; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for connections in list(self._local.values()):
            for connection in list(connections.values()):
                await _close(connection.websocket, 1001, "server shutting down")
        tasks = [*self._subscriptions.values(), *self._grace.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._subscriptions.clear()
        self._grace.clear()
        self._tasks.clear()

    def _spawn(self, coroutine: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    # ----------------------------------------------------------------------- a connection

    async def serve(self, websocket: WebSocket, token: str | None) -> None:
        """Run one signaling connection until it closes."""
        claims = await self._admit(websocket, token)
        if claims is None:
            return
        connection = Connection(claims=claims, websocket=websocket)
        writer = asyncio.create_task(self._write(connection), name="signal-writer")
        try:
            await self._read(connection)
        finally:
            await _drain(connection, writer)
            if connection.left:
                await _close(websocket, 1000, "left")
            await self._disconnected(connection)

    async def _admit(self, websocket: WebSocket, token: str | None) -> JoinClaims | None:
        await websocket.accept()
        try:
            if not token:
                raise InvalidToken("no token")
            claims = decode_join_token(self._settings, token)
            status = await asyncio.to_thread(self._meeting_status, claims.meeting_id)
        except TokenExpired:
            await _close(websocket, CLOSE_INVALID_TOKEN, "token expired")
            return None
        except (InvalidToken, NotFound):
            await _close(websocket, CLOSE_INVALID_TOKEN, "invalid token")
            return None
        if status in (MeetingStatus.ended, MeetingStatus.cancelled):
            await _close(websocket, CLOSE_MEETING_ENDED, "meeting ended")
            return None
        return claims

    def _meeting_status(self, meeting_id: uuid.UUID) -> MeetingStatus:
        with session_scope(self._engine) as session:
            return MeetingStatus(crud.get_meeting(session, meeting_id=meeting_id).status)

    async def _write(self, connection: Connection) -> None:
        while (item := await connection.outbox.get()) is not None:
            if connection.websocket.application_state != WebSocketState.CONNECTED:
                return
            if isinstance(item, tuple):
                await _close(connection.websocket, *item)
                return
            try:
                await connection.websocket.send_text(item)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def _read(self, connection: Connection) -> None:
        limit = self._settings.signal_max_message_bytes
        while True:
            try:
                message = await connection.websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text") or message.get("bytes") or b""
            await self._handle(connection, raw, limit)
            if connection.errors >= ERROR_LIMIT:
                await _close(connection.websocket, CLOSE_POLICY, "too many bad messages")
                return
            if connection.left:
                return

    async def _handle(self, connection: Connection, raw: str | bytes, limit: int) -> None:
        request_id: Any = None
        try:
            request = protocol.parse_message(raw, max_bytes=limit)
            request_id = request.id
            if request.method != "JoinRoom" and not connection.joined:
                raise ProtocolError(ErrorCode.NOT_JOINED, "Send JoinRoom first")
            result = await self._handlers[request.method](connection, request.params)
        except ProtocolError as error:
            if error.request_id is None:
                error.request_id = request_id
            connection.errors += 1
            connection.send(protocol.error_response(error))
            return
        except Exception:
            logger.exception("meeting %s: signaling handler failed for %s",
                             connection.meeting_id, connection.participant_id)
            connection.send(protocol.error_response(ProtocolError(
                ErrorCode.INTERNAL_ERROR, "Internal error", request_id=request_id)))
            return
        connection.errors = 0
        if request_id is not None:
            connection.send(protocol.result_response(request_id, result))

    # ----------------------------------------------------------------------- methods

    async def _join_room(self, connection: Connection, params: protocol.JoinRoom
                         ) -> dict[str, Any]:
        room = params.roomId
        if room is not None and room != str(connection.meeting_id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "The token is for another meeting")
        if connection.joined:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "Already joined")
        meeting_id, participant_id = connection.meeting_id, connection.participant_id
        reclaimed = await self._reclaim(connection)
        if not reclaimed:
            await self._enter(connection)
        connection.joined = True
        self._attach(connection)
        await asyncio.to_thread(self._set_connection_state, participant_id,
                                ConnectionState.connected)
        if not reclaimed:
            await self._refresh_consent(meeting_id)
            recorder = connection.claims.role is Role.recorder
            await self._sfu.join(
                meeting_id, participant_id, on_offer=self._offer_sender(connection),
                publishes=not recorder,
                receives=self._consent_policy(meeting_id) if recorder else None)
        room = str(meeting_id)
        participants = await self._rooms.participants(room)
        return {
            "participantId": str(participant_id),
            "participants": [_participant_event(p) for p in participants if not p.hidden],
            "chat": await self._rooms.recent_chat(room),
            "isRecording": await self._rooms.is_recording(room),
        }

    async def _enter(self, connection: Connection) -> None:
        claims = connection.claims
        capacity = await asyncio.to_thread(self._capacity, claims.meeting_id)
        state = ParticipantState(
            user_id=str(claims.participant_id),
            display_name=claims.display_name,
            role=claims.role.value,
            connection_id=uuid.uuid4().hex,
            hidden=claims.role is Role.recorder,
        )
        try:
            await self._rooms.join(str(claims.meeting_id), state, max_participants=capacity)
        except RoomFull as exc:
            raise ProtocolError(ErrorCode.MEETING_UNAVAILABLE, "The meeting is full") from exc
        if not state.hidden:
            await self._publish(claims.meeting_id, "ParticipantJoined", _participant_event(state),
                                exclude=claims.participant_id)

    async def _reclaim(self, connection: Connection) -> bool:
        """A client back within the grace period keeps its place (and its peer connection)."""
        participant_id = connection.participant_id
        grace = self._grace.pop(participant_id, None)
        local = self._local.get(connection.meeting_id, {})
        previous = local.get(participant_id)
        if previous is not None and previous is not connection:
            previous.left = True
            await _close(previous.websocket, CLOSE_REPLACED, "replaced by a newer connection")
        if grace is None and previous is None:
            return False
        if grace is not None:
            grace.cancel()
        return await self._rooms.reclaim(str(connection.meeting_id), str(participant_id))

    def _consent_policy(self, meeting_id: uuid.UUID) -> Callable[[str], bool]:
        def consented(publisher_id: str) -> bool:
            return publisher_id in self._recording_consent.get(meeting_id, frozenset())

        return consented

    async def _refresh_consent(self, meeting_id: uuid.UUID) -> None:
        """Reload who consented to recording, and apply it to the meeting's recorders."""
        consenting = await asyncio.to_thread(self._load_consent, meeting_id)
        self._recording_consent[meeting_id] = frozenset(str(pid) for pid in consenting)
        for participant_id, connection in self._local.get(meeting_id, {}).items():
            if connection.claims.role is Role.recorder and connection.joined:
                self._sfu.refresh_subscriptions(meeting_id, participant_id)

    def _load_consent(self, meeting_id: uuid.UUID) -> list[uuid.UUID]:
        with session_scope(self._engine) as session:
            return list(recordings.recording_consent(session, meeting_id=meeting_id))

    def _capacity(self, meeting_id: uuid.UUID) -> int:
        with session_scope(self._engine) as session:
            meeting = crud.get_meeting(session, meeting_id=meeting_id)
            if meeting.status in (MeetingStatus.ended, MeetingStatus.cancelled):
                raise MeetingEnded()
            return meeting.max_participants

    def _offer_sender(self, connection: Connection) -> Callable[..., Awaitable[None]]:
        async def send_offer(sdp: str, **mapping: Any) -> None:
            current = self._local.get(connection.meeting_id, {}).get(connection.participant_id)
            target = current or connection
            target.send(protocol.notification("ReceiveOffer", {"sdp": sdp, **mapping}))

        return send_offer

    async def _send_answer(self, connection: Connection, params: protocol.SessionDescription
                           ) -> dict[str, Any]:
        try:
            await self._sfu.answer(connection.meeting_id, connection.participant_id, params.sdp)
        except SfuError as exc:
            raise ProtocolError(ErrorCode.NEGOTIATION_FAILED, str(exc)) from exc
        return {}

    async def _send_offer(self, connection: Connection, params: protocol.SessionDescription
                          ) -> dict[str, Any]:
        raise ProtocolError(ErrorCode.NEGOTIATION_FAILED,
                            "The SFU makes the offers; answer its ReceiveOffer instead")

    async def _send_ice_candidate(
        self, connection: Connection, params: protocol.SendIceCandidate
    ) -> dict[str, Any]:
        try:
            await self._sfu.add_ice_candidate(connection.meeting_id, connection.participant_id,
                                              params.candidate.model_dump())
        except SfuError as exc:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, str(exc)) from exc
        return {}

    async def _update_state(self, connection: Connection, params: protocol.UpdateState
                            ) -> dict[str, Any]:
        changes = {name: value for name, value in (("is_muted", params.isMuted),
                                                   ("is_video_on", params.isVideoOn))
                   if value is not None}
        state = await self._rooms.update(str(connection.meeting_id),
                                         str(connection.participant_id), **changes)
        await self._publish(connection.meeting_id, "StateChanged", _participant_event(state),
                            exclude=connection.participant_id)
        return {}

    async def _send_chat_message(
        self, connection: Connection, params: protocol.SendChatMessage
    ) -> dict[str, Any]:
        text = params.text.strip()
        if not text:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, "text must not be empty")
        recipient = params.to
        message = await asyncio.to_thread(self._store_chat, connection.claims, text, recipient)
        event = {
            "id": str(message.id),
            "senderId": str(connection.participant_id),
            "senderName": connection.claims.display_name,
            "text": text,
            "isPrivate": recipient is not None,
            "to": str(recipient) if recipient else None,
            "sentAt": message.created_at.isoformat(),
        }
        if recipient is None:
            await self._rooms.add_chat(str(connection.meeting_id), event)
            await self._publish(connection.meeting_id, "ChatMessage", event)
        else:
            await self._publish(connection.meeting_id, "ChatMessage", event, to=recipient)
            connection.send(protocol.notification("ChatMessage", event))
        return {"id": event["id"]}

    def _store_chat(
        self, claims: JoinClaims, text: str, recipient: uuid.UUID | None
    ) -> ChatMessage:
        with session_scope(self._engine) as session:
            message = ChatMessage(
                meeting_id=claims.meeting_id,
                sender_participant_id=claims.participant_id,
                sender_name=claims.display_name,
                content=text,
                is_private=recipient is not None,
                recipient_participant_id=recipient,
            )
            session.add(message)
            return message

    async def _publish_transcript(self, connection: Connection,
                                  params: protocol.PublishTranscript) -> dict[str, Any]:
        """The recorder's captions: to everyone in the meeting; finals are stored."""
        if connection.claims.role is not Role.recorder:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only the recorder publishes captions")
        caption = params.model_dump(mode="json")
        await self._publish(connection.meeting_id, "TranscriptUpdate", caption)
        if params.final and params.text.strip():
            await asyncio.to_thread(self._store_segment, connection.meeting_id, params)
        return {}

    def _store_segment(self, meeting_id: uuid.UUID, caption: protocol.PublishTranscript
                       ) -> None:
        with session_scope(self._engine) as session:
            transcripts.save_final_segment(session, segment=TranscriptSegment(
                id=caption.segmentId, meeting_id=meeting_id,
                participant_id=caption.participantId, speaker_name=caption.speakerName,
                start_ms=round(caption.start * 1000), end_ms=round(caption.end * 1000),
                text=caption.text.strip()))

    async def _keepalive(self, connection: Connection, params: protocol.Empty) -> dict[str, Any]:
        await self._rooms.touch(str(connection.meeting_id))
        return {}

    async def _leave_room(self, connection: Connection, params: protocol.Empty
                          ) -> dict[str, Any]:
        connection.left = True
        await self._depart(connection.meeting_id, connection.participant_id)
        return {}

    # ----------------------------------------------------------------------- leaving

    async def _disconnected(self, connection: Connection) -> None:
        local = self._local.get(connection.meeting_id, {})
        if local.get(connection.participant_id) is connection:
            del local[connection.participant_id]
        if connection.left or not connection.joined or self._closed:
            self._detach_if_empty(connection.meeting_id)
            return
        if connection.participant_id in local:
            return  # replaced by a newer connection
        await self._rooms.mark_disconnected(str(connection.meeting_id),
                                            str(connection.participant_id))
        await asyncio.to_thread(self._set_connection_state, connection.participant_id,
                                ConnectionState.reconnecting)
        self._grace[connection.participant_id] = self._spawn(
            self._depart_after_grace(connection.meeting_id, connection.participant_id),
            name=f"grace-{connection.participant_id}",
        )

    async def _depart_after_grace(self, meeting_id: uuid.UUID, participant_id: uuid.UUID) -> None:
        await asyncio.sleep(self._settings.signal_reconnect_grace_seconds)
        self._grace.pop(participant_id, None)
        await self._depart(meeting_id, participant_id)

    async def _depart(self, meeting_id: uuid.UUID, participant_id: uuid.UUID) -> None:
        await self._sfu.leave(meeting_id, participant_id)
        state = await self._rooms.leave(str(meeting_id), str(participant_id))
        if state is not None and not state.hidden:
            await self._publish(meeting_id, "ParticipantLeft", {"userId": str(participant_id)})
        await asyncio.to_thread(self._record_leave, meeting_id, participant_id)
        self._detach_if_empty(meeting_id)

    def _record_leave(self, meeting_id: uuid.UUID, participant_id: uuid.UUID) -> None:
        with session_scope(self._engine) as session:
            participant = crud.get_participant(session, participant_id=participant_id,
                                               meeting_id=meeting_id)
            if crud.leave_meeting(session, participant=participant):
                crud.add_audit(session, action="participant.left", meeting_id=meeting_id,
                               actor_participant_id=participant_id,
                               actor_user_id=participant.user_id)

    def _set_connection_state(self, participant_id: uuid.UUID, state: ConnectionState) -> None:
        with session_scope(self._engine) as session:
            participant = session.get(Participant, participant_id)
            if participant is not None and participant.left_at is None:
                participant.connection_state = state
                session.add(participant)

    # ----------------------------------------------------------------------- fan-out

    def _attach(self, connection: Connection) -> None:
        meeting_id = connection.meeting_id
        self._local.setdefault(meeting_id, {})[connection.participant_id] = connection
        if meeting_id not in self._subscriptions:
            self._subscriptions[meeting_id] = self._spawn(
                self._deliver(meeting_id), name=f"room-events-{meeting_id}")

    def _detach_if_empty(self, meeting_id: uuid.UUID) -> None:
        if self._local.get(meeting_id):
            return
        self._local.pop(meeting_id, None)
        self._recording_consent.pop(meeting_id, None)
        task = self._subscriptions.pop(meeting_id, None)
        if task is not None:
            task.cancel()

    async def _publish(
        self,
        meeting_id: uuid.UUID,
        method: str,
        params: dict[str, Any],
        *,
        to: uuid.UUID | None = None,
        exclude: uuid.UUID | None = None,
    ) -> None:
        event = {"method": method, "params": params,
                 "to": str(to) if to else None, "exclude": str(exclude) if exclude else None}
        await self._rooms.publish(str(meeting_id), event)

    async def publish(self, meeting_id: uuid.UUID, method: str, params: dict[str, Any]) -> None:
        """Send a server event to everyone in a meeting, on every API instance."""
        await self._publish(meeting_id, method, params)

    async def end_meeting(self, meeting_id: uuid.UUID) -> None:
        """The meeting ended: tell everyone, on every instance, and close their connections."""
        await self._publish(meeting_id, "MeetingEnded", {"meetingId": str(meeting_id)})

    async def _close_all(self, meeting_id: uuid.UUID, message: dict[str, Any]) -> None:
        for participant_id, connection in list(self._local.get(meeting_id, {}).items()):
            connection.send(message)
            connection.left = True
            connection.outbox.put_nowait((CLOSE_MEETING_ENDED, "meeting ended")) \
                if not connection.outbox.full() else None
            await self._depart(meeting_id, participant_id)

    async def _deliver(self, meeting_id: uuid.UUID) -> None:
        async for event in self._rooms.subscribe(str(meeting_id)):
            message = protocol.notification(event["method"], event["params"])
            if event["method"] == "MeetingEnded":
                await self._close_all(meeting_id, message)
                continue
            if event["method"] == "ConsentChanged":
                await self._refresh_consent(meeting_id)
            for participant_id, connection in list(self._local.get(meeting_id, {}).items()):
                target = str(participant_id)
                if event.get("to") and event["to"] != target:
                    continue
                if event.get("exclude") == target or not connection.joined:
                    continue
                connection.send(message)

    def local_participants(self, meeting_id: uuid.UUID) -> list[uuid.UUID]:
        return list(self._local.get(meeting_id, {}))


def _participant_event(state: ParticipantState) -> dict[str, Any]:
    return {
        "userId": state.user_id,
        "displayName": state.display_name,
        "role": state.role,
        "isMuted": state.is_muted,
        "isVideoOn": state.is_video_on,
    }


async def _drain(connection: Connection, writer: asyncio.Task[None], timeout: float = 2.0
                 ) -> None:
    """Let the writer send what is queued (a last response), then stop it."""
    try:
        connection.outbox.put_nowait(None)
        await asyncio.wait_for(asyncio.shield(writer), timeout)
    except (asyncio.QueueFull, TimeoutError):
        pass
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason)

