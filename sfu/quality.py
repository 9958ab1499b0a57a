"""Per-participant connection quality: the seed 000 bookkeeping and seed 001 metrics.

Every few seconds the SFU reads each peer connection's RTCP-derived statistics and adds a
report (loss, jitter, RTT) to that participant's sliding window of the last 10. The
quality tier comes from the window's averages. Everything here is small and flat on
purpose: the budget is about 9 KB of steady-state bookkeeping for a 10-user meeting.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

WINDOW = 10


class Tier(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


# (loss %, jitter ms, RTT ms): at or under "high" is high; over "low" is low.
HIGH_LIMITS = (2.0, 30.0, 150.0)
LOW_LIMITS = (8.0, 80.0, 400.0)


@dataclass(slots=True, frozen=True)
class RtcpReport:
    loss_pct: float
    jitter_ms: float
    rtt_ms: float
    timestamp_ms: int


class UserSession:
    """One participant in one meeting, as the SFU keeps it (seed 000 DS-01 + DS-03).

    The last ``WINDOW`` reports live in one flat float array used as a ring (loss,
    jitter, RTT per report), which keeps a participant's bookkeeping to a few hundred
    bytes.
    """

    __slots__ = ("_bytes", "_count", "_head", "_window", "audio_kbps", "connection_state",
                 "pc_id", "tier", "updated_ms", "user_id", "video_kbps")

    def __init__(self, *, user_id: str, pc_id: str) -> None:
        self.user_id = user_id
        self.pc_id = pc_id
        self.connection_state = "new"
        self.tier = Tier.high
        self.updated_ms = 0
        self.audio_kbps = 0.0
        self.video_kbps = 0.0
        self._window = array("f", bytes(4 * 3 * WINDOW))
        self._head = 0
        self._count = 0
        self._bytes: tuple[int, int, int] | None = None  # audio bytes, video bytes, at ms

    def add_report(self, report: RtcpReport) -> Tier:
        offset = 3 * self._head
        self._window[offset:offset + 3] = array(
            "f", (report.loss_pct, report.jitter_ms, report.rtt_ms))
        self._head = (self._head + 1) % WINDOW
        self._count = min(self._count + 1, WINDOW)
        self.updated_ms = report.timestamp_ms
        self.tier = tier_of(self.averages()) if self._count else Tier.high
        return self.tier

    @property
    def reports(self) -> int:
        return self._count

    def averages(self) -> tuple[float, float, float]:
        """Mean loss %, jitter ms and RTT ms over the window."""
        if not self._count:
            return 0.0, 0.0, 0.0
        sums = [0.0, 0.0, 0.0]
        for index in range(self._count):
            for field_index in range(3):
                sums[field_index] += self._window[3 * index + field_index]
        return sums[0] / self._count, sums[1] / self._count, sums[2] / self._count

    def note_bytes(self, audio_bytes: int, video_bytes: int, now_ms: int) -> None:
        """Cumulative bytes sent to this participant; bitrates come from the change."""
        previous, self._bytes = self._bytes, (audio_bytes, video_bytes, now_ms)
        if previous and now_ms > previous[2]:
            elapsed = now_ms - previous[2]
            self.audio_kbps = (audio_bytes - previous[0]) * 8 / elapsed
            self.video_kbps = (video_bytes - previous[1]) * 8 / elapsed

    def metrics(self) -> dict[str, Any]:
        """Seed 001's ConnectionQualityMetrics for this participant."""
        loss, jitter, rtt = self.averages()
        return {
            "peerId": self.user_id,
            "tier": self.tier.value,
            "connectionState": self.connection_state,
            "latencyMs": round(rtt, 1),
            "packetLossRate": round(loss, 2),
            "jitterMs": round(jitter, 1),
            "audioBitrateKbps": round(self.audio_kbps, 1),
            "videoBitrateKbps": round(self.video_kbps, 1),
            "bandwidthKbps": round(self.audio_kbps + self.video_kbps, 1),
            "reports": self._count,
            "updatedAt": self.updated_ms,
        }


def tier_of(averages: tuple[float, float, float]) -> Tier:
    """The tier for mean (loss %, jitter ms, RTT ms)."""
    if any(value > limit for value, limit in zip(averages, LOW_LIMITS, strict=True)):
        return Tier.low
    if all(value <= limit for value, limit in zip(averages, HIGH_LIMITS, strict=True)):
        return Tier.high
    return Tier.medium


CLOCK_KHZ = {"audio": 48.0, "video": 90.0}


def report_from_stats(stats: dict[str, Any], now_ms: int | None = None) -> RtcpReport | None:
    """Build a report from ``RTCPeerConnection.getStats()``.

    ``remote-inbound-rtp`` entries are what the participant's receiver reports say about
    the media we send them (RTT, fraction lost in the last interval, jitter);
    ``inbound-rtp`` entries describe what they send us. Jitter comes in RTP clock units.
    """
    losses: list[float] = []
    jitters: list[float] = []
    rtts: list[float] = []
    for entry in stats.values():
        kind = getattr(entry, "type", None)
        if kind not in ("inbound-rtp", "remote-inbound-rtp"):
            continue
        jitters.append(float(entry.jitter or 0) / CLOCK_KHZ.get(entry.kind, 48.0))
        if kind == "remote-inbound-rtp":
            rtts.append(float(entry.roundTripTime or 0) * 1000)
            losses.append(float(entry.fractionLost or 0) * 100 / 256)  # RR: 8-bit fixed point
        else:
            total = max(entry.packetsLost, 0) + entry.packetsReceived
            losses.append(100.0 * max(entry.packetsLost, 0) / total if total else 0.0)
    if not jitters:
        return None
    return RtcpReport(
        loss_pct=max(losses, default=0.0),
        jitter_ms=max(jitters),
        rtt_ms=max(rtts, default=0.0),
        timestamp_ms=now_ms if now_ms is not None else int(time.time() * 1000),
    )
