"""The transcription worker's WebSocket protocol: message shapes and their checks.

JSON-RPC 2.0 text frames carry the control messages and the captions; binary frames
carry the audio (16-bit little-endian mono PCM at 16 kHz). ``docs/transcription.md``
describes the exchange; both ends (``workers/transcriber.py`` and ``ai.client``) build
and check their messages here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ai.events import CaptionEvent
from ai.exceptions import ProtocolError

PATH = "/v1/transcribe"
SAMPLE_RATE = 16000
ENCODING = "pcm_s16le"
MAX_FRAME_BYTES = 64 * 1024  # 2 s of audio
MAX_TEXT_BYTES = 16 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_STARTED = -32001  # audio or a command before StartStream
STREAM_CLOSED = -32002  # audio after EndStream
CAPACITY = -32003  # the worker serves as many streams as it may
BAD_AUDIO = -32004  # a binary frame that is not whole 16-bit samples, or too large

_STREAM_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


@dataclass(frozen=True, slots=True)
class StreamHeader:
    """``StartStream``'s params: who speaks, and when the first sample was."""

    stream_id: str
    meeting_id: str
    participant_id: str
    speaker_name: str
    start_ms: int
    sample_rate: int = SAMPLE_RATE
    encoding: str = ENCODING

    def to_params(self) -> dict[str, Any]:
        return {"streamId": self.stream_id, "meetingId": self.meeting_id,
                "participantId": self.participant_id, "speakerName": self.speaker_name,
                "startMs": self.start_ms, "sampleRate": self.sample_rate,
                "encoding": self.encoding}

    @classmethod
    def from_params(cls, params: object) -> StreamHeader:
        if not isinstance(params, dict):
            raise ProtocolError("StartStream params must be an object", code=INVALID_PARAMS)
        header = cls(
            stream_id=_text(params, "streamId", 40), meeting_id=_text(params, "meetingId", 64),
            participant_id=_text(params, "participantId", 64),
            speaker_name=_text(params, "speakerName", 200),
            start_ms=_integer(params, "startMs"),
            sample_rate=_integer(params, "sampleRate", SAMPLE_RATE),
            encoding=params.get("encoding", ENCODING))
        if not _STREAM_ID.match(header.stream_id):
            raise _invalid("streamId", "1 to 40 of A-Z a-z 0-9 _ . : -")
        if header.sample_rate != SAMPLE_RATE:
            raise _invalid("sampleRate", f"must be {SAMPLE_RATE}")
        if header.encoding != ENCODING:
            raise _invalid("encoding", f"must be {ENCODING!r}")
        return header


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed JSON-RPC message from a peer."""

    method: str
    params: dict[str, Any]
    id: int | str | None = None


def parse(text: str) -> Message:
    """Check one text frame; raise ``ProtocolError`` with the JSON-RPC code."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError("message too large", code=INVALID_REQUEST)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}", code=PARSE_ERROR) from None
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        raise ProtocolError('a JSON-RPC 2.0 object is expected ("jsonrpc": "2.0")')
    ident = data.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, int | str)):
        raise ProtocolError("id must be a string or an integer")
    method = data.get("method")
    if not isinstance(method, str):
        raise ProtocolError("method must be a string")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise ProtocolError("params must be an object", code=INVALID_PARAMS)
    return Message(method, params, ident)


def request(method: str, params: dict[str, Any], ident: int | str) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})


def notification(method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params})


def result(ident: int | str | None, value: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "result": value})


def error(ident: int | str | None, code: int, message: str, *, retryable: bool = False) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident,
                       "error": {"code": code, "message": message,
                                 "data": {"retryable": retryable}}})


def transcript_update(header: StreamHeader, event: CaptionEvent) -> dict[str, Any]:
    """A caption as the params of signaling's ``TranscriptUpdate``, plus where it is from."""
    return {"segmentId": event.segment_id, "participantId": header.participant_id,
            "speakerName": header.speaker_name, "start": event.start, "end": event.end,
            "text": event.text, "final": event.final, "meetingId": header.meeting_id,
            "streamId": header.stream_id}


def _text(params: dict[str, Any], name: str, longest: int) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise _invalid(name, f"a non-empty string of at most {longest} characters")
    return value


def _integer(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(name, "a non-negative integer")
    return value


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(f"{field}: {message}", code=INVALID_PARAMS)
