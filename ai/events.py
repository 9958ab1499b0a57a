"""What a transcription stream yields."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CaptionEvent:
    """One caption line for one speaker stream.

    ``start`` and ``end`` are seconds on the meeting clock (the stream's clock shifted by
    the meeting time of its first sample). A final event replaces every partial event
    with the same ``segment_id``; a final is never revised, and a segment id is never
    used again after its final.
    """

    segment_id: str
    stream: str
    start: float
    end: float
    text: str
    final: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
