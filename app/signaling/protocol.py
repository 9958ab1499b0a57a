"""JSON-RPC 2.0 for signaling: parsing, validation and building messages. No I/O.

Every way a message can be wrong maps to one ``ProtocolError`` with a JSON-RPC error code;
``docs/signaling.md`` lists them. Parameters are validated against one model per method.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

MAX_SDP = 32_768
MAX_CHAT = 4000


class ErrorCode(IntEnum):
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    NOT_JOINED = -32001
    FORBIDDEN = -32002
    MESSAGE_TOO_LARGE = -32003
    MEETING_UNAVAILABLE = -32004
    NEGOTIATION_FAILED = -32005


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, request_id: Any = None,
                 data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.data = data


# --------------------------------------------------------------------------- params


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JoinRoom(_Params):
    roomId: StrictStr | None = Field(default=None, max_length=64)
    token: StrictStr | None = Field(default=None, max_length=4096)  # accepted, as in seed 002


class SessionDescription(_Params):
    sdp: StrictStr = Field(min_length=1, max_length=MAX_SDP)
    targetUserId: StrictStr | None = Field(default=None, max_length=64)


class IceCandidateInit(_Params):
    model_config = ConfigDict(extra="ignore", frozen=True)
    candidate: StrictStr = Field(max_length=1024)
    sdpMid: StrictStr | None = Field(default=None, max_length=32)
    sdpMLineIndex: StrictInt | None = Field(default=None, ge=0, le=1024)
    usernameFragment: StrictStr | None = Field(default=None, max_length=256)


class SendIceCandidate(_Params):
    candidate: IceCandidateInit
    targetUserId: StrictStr | None = Field(default=None, max_length=64)


class UpdateState(_Params):
    isMuted: StrictBool | None = None
    isVideoOn: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateState:
        if self.isMuted is None and self.isVideoOn is None:
            raise ValueError("give isMuted and/or isVideoOn")
        return self


class SendChatMessage(_Params):
    text: StrictStr = Field(min_length=1, max_length=MAX_CHAT)
    to: uuid.UUID | None = None


class PublishTranscript(_Params):
    """A caption from the recorder's transcription (role ``recorder`` only)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    segmentId: StrictStr = Field(min_length=1, max_length=64)
    participantId: uuid.UUID
    speakerName: StrictStr = Field(max_length=200)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: StrictStr = Field(max_length=MAX_CHAT)
    final: StrictBool


class Empty(_Params):
    model_config = ConfigDict(extra="ignore", frozen=True)


PARAMS: dict[str, type[_Params]] = {
    "JoinRoom": JoinRoom,
    "SendOffer": SessionDescription,
    "SendAnswer": SessionDescription,
    "SendIceCandidate": SendIceCandidate,
    "UpdateState": UpdateState,
    "SendChatMessage": SendChatMessage,
    "PublishTranscript": PublishTranscript,
    "KeepAlive": Empty,
    "LeaveRoom": Empty,
}
SERVER_EVENTS = frozenset({
    "ParticipantJoined", "ParticipantLeft", "ReceiveOffer", "ReceiveAnswer", "IceCandidate",
    "StateChanged", "ChatMessage", "RecordingStarted", "RecordingStopped", "TranscriptUpdate",
    "ConsentChanged", "MeetingEnded",
})


@dataclass(frozen=True, slots=True)
class Request:
    """A valid client message: a request when ``id`` is set, a notification otherwise."""

    method: str
    params: _Params
    id: int | str | None = None


# --------------------------------------------------------------------------- parsing


def parse_message(raw: str | bytes, *, max_bytes: int) -> Request:
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE,
                            f"Message of {size} bytes is over the limit of {max_bytes}")
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.PARSE_ERROR, "Message is not valid JSON") from exc
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "Message must be a JSON object")
    request_id = _request_id(message)
    if message.get("jsonrpc") != "2.0":
        raise ProtocolError(ErrorCode.INVALID_REQUEST, 'jsonrpc must be "2.0"',
                            request_id=request_id)
    method = message.get("method")
    if not isinstance(method, str):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "method must be a string",
                            request_id=request_id)
    model = PARAMS.get(method)
    if model is None:
        raise ProtocolError(ErrorCode.METHOD_NOT_FOUND, f"Unknown method {method[:64]!r}",
                            request_id=request_id)
    return Request(method=method, params=_params(model, message.get("params"), request_id),
                   id=request_id)


def _request_id(message: dict[str, Any]) -> int | str | None:
    request_id = message.get("id")
    if request_id is None:
        return None
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "id must be a string or an integer")
    if isinstance(request_id, str) and len(request_id) > 64:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "id is too long")
    return request_id


def _params(model: type[_Params], params: Any, request_id: int | str | None) -> _Params:
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError(ErrorCode.INVALID_PARAMS, "params must be an object",
                            request_id=request_id)
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        fields = [{"field": ".".join(str(p) for p in error["loc"]), "message": error["msg"]}
                  for error in exc.errors()]
        raise ProtocolError(ErrorCode.INVALID_PARAMS, "Invalid params", request_id=request_id,
                            data=fields) from exc


# --------------------------------------------------------------------------- building


def result_response(request_id: int | str, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(error: ProtocolError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": int(error.code), "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": "2.0", "id": error.request_id, "error": body}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}
