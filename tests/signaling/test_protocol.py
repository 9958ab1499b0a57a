"""The JSON-RPC protocol: every valid method parses; anything else is a typed error."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.signaling import protocol
from app.signaling.protocol import ErrorCode, ProtocolError

LIMIT = 65536

VALID = {
    "JoinRoom": {"roomId": "abc"},
    "SendOffer": {"sdp": "v=0\r\n"},
    "SendAnswer": {"sdp": "v=0\r\n"},
    "SendIceCandidate": {"candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host",
                                       "sdpMid": "0", "sdpMLineIndex": 0}},
    "UpdateState": {"isMuted": True},
    "SendChatMessage": {"text": "hi"},
    "KeepAlive": {},
    "LeaveRoom": {},
}


def _raw(**message: object) -> str:
    return json.dumps({"jsonrpc": "2.0", **message})


@pytest.mark.parametrize("method", sorted(VALID))
def test_each_method_parses(method: str) -> None:
    request = protocol.parse_message(_raw(id=7, method=method, params=VALID[method]),
                                     max_bytes=LIMIT)
    assert request.method == method and request.id == 7


@pytest.mark.parametrize(("raw", "code"), [
    ("{not json", ErrorCode.PARSE_ERROR),
    (b"\xff\xfe", ErrorCode.PARSE_ERROR),
    ("[1, 2]", ErrorCode.INVALID_REQUEST),
    (json.dumps({"method": "KeepAlive"}), ErrorCode.INVALID_REQUEST),
    (_raw(id=1.5, method="KeepAlive"), ErrorCode.INVALID_REQUEST),
    (_raw(id=True, method="KeepAlive"), ErrorCode.INVALID_REQUEST),
    (_raw(id=1, method=42), ErrorCode.INVALID_REQUEST),
    (_raw(id=1, method="Explode"), ErrorCode.METHOD_NOT_FOUND),
    (_raw(id=1, method="SendAnswer", params=[1]), ErrorCode.INVALID_PARAMS),
    (_raw(id=1, method="SendAnswer", params={"sdp": 5}), ErrorCode.INVALID_PARAMS),
    (_raw(id=1, method="UpdateState", params={}), ErrorCode.INVALID_PARAMS),
    (_raw(id=1, method="UpdateState", params={"isMuted": "yes"}), ErrorCode.INVALID_PARAMS),
    (_raw(id=1, method="SendChatMessage", params={"text": "x" * 5000}),
     ErrorCode.INVALID_PARAMS),
    (_raw(id=1, method="SendChatMessage", params={"text": "x", "to": "nobody"}),
     ErrorCode.INVALID_PARAMS),
])
def test_bad_messages(raw: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as error:
        protocol.parse_message(raw, max_bytes=LIMIT)
    assert error.value.code == code
    response = protocol.error_response(error.value)
    assert response["error"]["code"] == int(code) and response["jsonrpc"] == "2.0"


def test_oversized_message() -> None:
    raw = _raw(id=1, method="SendAnswer", params={"sdp": "v" * 70_000})
    with pytest.raises(ProtocolError) as error:
        protocol.parse_message(raw, max_bytes=LIMIT)
    assert error.value.code == ErrorCode.MESSAGE_TOO_LARGE


def test_invalid_params_name_the_field() -> None:
    with pytest.raises(ProtocolError) as error:
        protocol.parse_message(_raw(id="a", method="SendIceCandidate",
                                    params={"candidate": {"candidate": 1}}), max_bytes=LIMIT)
    assert error.value.request_id == "a"
    assert error.value.data[0]["field"] == "candidate.candidate"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        protocol.parse_message(raw, max_bytes=LIMIT)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([*sorted(VALID), "Nope", ""]), json_values,
       st.one_of(st.none(), st.integers(), st.text(max_size=80), st.floats()))
def test_arbitrary_envelopes_never_escape(method: str, params: object, request_id: object
                                         ) -> None:
    raw = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": request_id})
    try:
        request = protocol.parse_message(raw, max_bytes=LIMIT)
    except ProtocolError as error:
        assert protocol.error_response(error)["error"]["code"] in {int(c) for c in ErrorCode}
    else:
        assert request.method in VALID
