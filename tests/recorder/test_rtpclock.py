"""Wraparound of RTP timestamps and sequence numbers, gaps, and the meeting clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recorder.rtpclock import GapDetector, MediaClock, RtpGap, Unwrapper, ntp_to_unix


def extends_to_truth(bits: int, truth: list[int]) -> bool:
    """Every wrapped value extends to the truth plus one whole-cycle offset, never < 0."""
    unwrap = Unwrapper(bits)
    extended = [unwrap.unwrap(value % 2**bits) for value in truth]
    offset = extended[0] - truth[0]
    return (offset % 2**bits == 0 and min(extended) >= 0
            and extended == [value + offset for value in truth])


def swapped(values: list[int], swaps: list[int]) -> list[int]:
    values = list(values)
    for index in swaps:
        if index + 1 < len(values):
            values[index], values[index + 1] = values[index + 1], values[index]
    return values


@given(start=st.integers(0, 2**32 - 1),
       steps=st.lists(st.integers(0, 5000), min_size=1, max_size=300))
def test_timestamps_stay_monotonic_across_the_32_bit_wrap(start: int, steps: list[int]
                                                          ) -> None:
    truth = [start]
    for step in steps:
        truth.append(truth[-1] + step)
    assert extends_to_truth(32, truth)


@given(start=st.integers(2**32 - 20 * 960, 2**32 - 1),
       swaps=st.lists(st.integers(0, 40), max_size=30))
def test_timestamps_reordered_right_at_the_wrap(start: int, swaps: list[int]) -> None:
    """Audio frames 20 ms apart, starting just before the wrap, some arriving late."""
    assert extends_to_truth(32, swapped([start + 960 * n for n in range(40)], swaps))


@given(start=st.integers(0, 2**16 - 1), count=st.integers(1, 400),
       swaps=st.lists(st.integers(0, 50), max_size=20))
def test_sequence_numbers_with_reordering(start: int, count: int, swaps: list[int]) -> None:
    """16-bit sequence numbers, with neighbours swapped, still extend to the truth."""
    assert extends_to_truth(16, swapped(list(range(start, start + count)), swaps))


@given(start=st.integers(0, 2**16 - 1))
def test_sequence_numbers_through_several_wraps(start: int) -> None:
    assert extends_to_truth(16, list(range(start, start + 3 * 2**16, 7)))


def test_sequence_wrap_at_65535() -> None:
    unwrap = Unwrapper(16)
    cycle = 2**16
    assert [unwrap.unwrap(v) for v in (65534, 65535, 0, 1, 65535, 2)] == [
        cycle + 65534, cycle + 65535, 2 * cycle, 2 * cycle + 1, cycle + 65535, 2 * cycle + 2]


def test_a_late_packet_from_before_the_first() -> None:
    unwrap = Unwrapper(16)
    first = unwrap.unwrap(0)
    assert unwrap.unwrap(65535) == first - 1 >= 0


@given(steps=st.lists(st.integers(-2000, 60_000), min_size=1, max_size=200))
def test_gaps_are_the_forward_jumps_past_the_threshold(steps: list[int]) -> None:
    detector = GapDetector(clock_rate=48000, threshold_seconds=0.5)  # 24000 ticks
    highest = time = 10**6
    detector.observe(time)
    for step in steps:
        time += step
        gap = detector.observe(time)
        if time - highest > 24000:
            assert gap == RtpGap(highest, time)
        else:
            assert gap is None  # jitter, a late packet or a repeat
        highest = max(highest, time)


def test_ntp_to_unix() -> None:
    ntp = ((1_700_000_000 + 2_208_988_800) << 32) | (1 << 31)
    assert ntp_to_unix(ntp) == 1_700_000_000.5


def ntp(unix_seconds: float) -> int:
    return round((unix_seconds + 2_208_988_800) * 2**32)


@given(start=st.integers(0, 2**32 - 1))
def test_meeting_clock_from_sender_reports_across_the_wrap(start: int) -> None:
    clock = MediaClock(clock_rate=48000, meeting_start_unix=1_000.0)
    first = clock.extend(start)
    clock.on_packet(first, arrival_unix=1_010.250)  # arrival time: only a stand-in
    assert not clock.from_sender_report
    assert clock.meeting_ms(first) == 10_250
    # the sender says: RTP `start` was at unix 1010.0 exactly
    clock.on_sender_report(ntp(1_010), start)
    assert clock.from_sender_report
    later = clock.extend((start + 48000 * 90) % 2**32)  # 90 s later, maybe past the wrap
    assert later == first + 48000 * 90
    assert clock.meeting_ms(first) == 10_000
    assert clock.meeting_ms(later) == 100_000


@given(start=st.integers(0, 2**32 - 1), report_offset=st.integers(-90000, 90000))
def test_a_sender_report_before_any_packet(start: int, report_offset: int) -> None:
    """Video at 90 kHz: the report may name an RTP time a little before or after the
    first packet, on either side of the wrap."""
    clock = MediaClock(clock_rate=90000, meeting_start_unix=500.0)
    clock.on_sender_report(ntp(520), (start + report_offset) % 2**32)
    first = clock.extend(start)
    clock.on_packet(first, arrival_unix=999.0)  # ignored: the report already places it
    assert abs(clock.meeting_ms(first) - (20_000 - report_offset / 90)) <= 1
