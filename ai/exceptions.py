"""Every error the transcription package raises, in one place.

``TranscriptionError``
  ``StreamClosedError``  audio pushed to a stream after ``end_input()`` or ``aclose()``
  ``EngineClosedError``  a stream opened on an engine that is closed
  ``CapacityError``      the engine already serves its maximum number of streams
  ``ProtocolError``      a transcriber peer sent something the protocol does not allow
  ``TranscriberUnavailableError``  the transcription worker cannot be reached

Each error says whether retrying can help (``retryable``), as livekit agents' errors do.
The WebSocket worker turns them into JSON-RPC error objects at its edge.
"""

from __future__ import annotations


class TranscriptionError(Exception):
    retryable = False


class StreamClosedError(TranscriptionError):
    """Audio or a command reached a stream that no longer takes input."""


class EngineClosedError(TranscriptionError):
    """The engine was closed; open a new one."""


class CapacityError(TranscriptionError):
    """The engine serves as many streams as it may; another worker may have room."""

    retryable = True


class ProtocolError(TranscriptionError):
    """A peer broke the streaming protocol (bad header, bad frame, unknown message)."""

    def __init__(self, message: str, *, code: int = -32600) -> None:
        super().__init__(message)
        self.code = code


class TranscriberUnavailableError(TranscriptionError):
    """The transcription worker could not be reached or went away."""

    retryable = True
