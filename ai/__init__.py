"""Live transcription: a streaming Whisper engine shared by many speaker streams.

``TranscriptionEngine`` loads one model and schedules every stream's inference on one
thread; ``SpeechStream`` takes a speaker's 16 kHz audio and yields ``CaptionEvent``s.
``workers/transcriber.py`` serves the engine over WebSocket; ``ai.client`` is the
recorder's side of that protocol. ``docs/transcription.md`` documents both.
"""

from ai.engine import EngineStats, TranscriptionEngine
from ai.events import CaptionEvent
from ai.stream import SpeechStream, StreamOptions

__all__ = ["CaptionEvent", "EngineStats", "SpeechStream", "StreamOptions",
           "TranscriptionEngine"]
