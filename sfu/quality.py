"""Per-participant connection quality: the seed 000 bookkeeping and seed 001 metrics.

Every few seconds the SFU reads each peer connection's RTCP-derived statistics and adds a
report (loss, jitter, RTT) to that participant's sliding window of the last 10. The
quality tier comes from the window's averages. Everything here is small and flat on
purpose: the budget is about 9 KB of steady-state bookkeeping for a 10-user meeting.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
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


@dataclass(slots=True)
class UserSession:
    """One participant in one meeting, as the SFU keeps it (seed 000 DS-01 + DS-03)."""

    user_id: str
    pc_id: str
    connection_state: str = "new"
    tier: Tier = Tier.high
    updated_ms: int = 0
    reports: deque[RtcpReport] = field(default_factory=lambda: deque(maxlen=WINDOW))
    bitrate_kbps: dict[str, float] = field(default_factory=dict)
    last_bytes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def add_report(self, report: RtcpReport) -> Tier:
        self.reports.append(report)
        self.tier = tier_of(self.reports)
        self.updated_ms = report.timestamp_ms
        return self.tier

    def averages(self) -> tuple[float, float, float]:
        if not self.reports:
            return 0.0, 0.0, 0.0
        count = len(self.reports)
        return (
            sum(r.loss_pct for r in self.reports) / count,
            sum(r.jitter_ms for r in self.reports) / count,
            sum(r.rtt_ms for r in self.reports) / count,
        )

    def note_bytes(self, kind: str, total_bytes: int, now_ms: int) -> None:
        previous = self.last_bytes.get(kind)
        self.last_bytes[kind] = (total_bytes, now_ms)
        if previous and now_ms > previous[1]:
            self.bitrate_kbps[kind] = (total_bytes - previous[0]) * 8 / (now_ms - previous[1])

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
            "audioBitrateKbps": round(self.bitrate_kbps.get("audio", 0.0), 1),
            "videoBitrateKbps": round(self.bitrate_kbps.get("video", 0.0), 1),
            "bandwidthKbps": round(sum(self.bitrate_kbps.values()), 1),
            "reports": len(self.reports),
            "updatedAt": self.updated_ms,
        }


def tier_of(reports: deque[RtcpReport]) -> Tier:
    if not reports:
        return Tier.high
    count = len(reports)
    averages = (
        sum(r.loss_pct for r in reports) / count,
        sum(r.jitter_ms for r in reports) / count,
        sum(r.rtt_ms for r in reports) / count,
    )
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
