"""Quality tiers from the sliding window of RTCP reports."""

from __future__ import annotations

from sfu.quality import WINDOW, RtcpReport, Tier, UserSession, tier_of


def _report(loss: float, jitter: float, rtt: float, at: int = 0) -> RtcpReport:
    return RtcpReport(loss_pct=loss, jitter_ms=jitter, rtt_ms=rtt, timestamp_ms=at)


def test_tiers() -> None:
    assert tier_of((0.5, 10, 50)) is Tier.high
    assert tier_of((4.0, 10, 50)) is Tier.medium
    assert tier_of((0.5, 10, 500)) is Tier.low
    assert tier_of((9.0, 0, 0)) is Tier.low


def test_window_keeps_the_last_ten_reports() -> None:
    session = UserSession(user_id="u", pc_id="p")
    assert session.tier is Tier.high and session.averages() == (0.0, 0.0, 0.0)
    for at in range(WINDOW):
        assert session.add_report(_report(20.0, 100, 600, at)) is Tier.low
    for at in range(WINDOW):
        session.add_report(_report(0.0, 5, 20, 100 + at))
    loss, jitter, rtt = session.averages()
    assert (loss, round(jitter), round(rtt)) == (0.0, 5, 20)
    assert session.tier is Tier.high and session.reports == WINDOW
    assert session.updated_ms == 109
    # half good, half bad: the averages decide
    for at in range(WINDOW // 2):
        session.add_report(_report(6.0, 40, 200, 200 + at))
    assert session.tier is Tier.medium


def test_bitrates_from_byte_counters() -> None:
    session = UserSession(user_id="u", pc_id="p")
    session.note_bytes(0, 0, 1000)
    session.note_bytes(4000, 40000, 2000)
    metrics = session.metrics()
    assert metrics["audioBitrateKbps"] == 32.0 and metrics["videoBitrateKbps"] == 320.0
    assert metrics["bandwidthKbps"] == 352.0 and metrics["peerId"] == "u"
