"""Wraparound of RTP timestamps and sequence numbers, and the meeting clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recorder.rtpclock import MediaClock, Unwrapper, ntp_to_unix


@given(start=st.integers(0, 2**32 - 1),
       steps=st.lists(st.integers(0, 5000), min_size=1, max_size=300))
def test_timestamps_stay_monotonic_across_the_32_bit_wrap(start: int, steps: list[int]
                                                          ) -> None:
    unwrap = Unwrapper(32)
    true_value = start
    assert unwrap.unwrap(start) == start
    for step in steps:
        true_value += step
        assert unwrap.unwrap(true_value % 2**32) == true_value


@given(start=st.integers(0, 2**16 - 1), count=st.integers(1, 200_000),
       swaps=st.lists(st.integers(0, 50), max_size=20))
def test_sequence_numbers_with_reordering(start: int, count: int, swaps: list[int]) -> None:
    """16-bit sequence numbers, with neighbours swapped, still extend to the truth."""
    truth = list(range(start, start + min(count, 400)))
    for index in swaps:
        if index + 1 < len(truth):
            truth[index], truth[index + 1] = truth[index + 1], truth[index]
    unwrap = Unwrapper(16)
    assert [unwrap.unwrap(v % 2**16) for v in truth] == truth


def test_sequence_wrap_at_65535() -> None:
    unwrap = Unwrapper(16)
    assert [unwrap.unwrap(v) for v in (65534, 65535, 0, 1, 65535, 2)] == [
        65534, 65535, 65536, 65537, 65535, 65538]


def test_ntp_to_unix() -> None:
    ntp = ((1_700_000_000 + 2_208_988_800) << 32) | (1 << 31)
    assert ntp_to_unix(ntp) == 1_700_000_000.5


@given(start=st.integers(0, 2**32 - 1))
def test_meeting_clock_from_sender_reports_across_the_wrap(start: int) -> None:
    clock = MediaClock(clock_rate=48000, meeting_start_unix=1_000.0)
    first = clock.extend(start)
    clock.on_packet(first, arrival_unix=1_010.250)  # arrival time: only a stand-in
    assert clock.meeting_ms(first) == 10_250
    # the sender says: RTP `start` was at unix 1010.0 exactly
    clock.on_sender_report(((1_010 + 2_208_988_800) << 32), start)
    assert clock.from_sender_report
    later = clock.extend((start + 48000 * 90) % 2**32)  # 90 s later, maybe past the wrap
    assert later == first + 48000 * 90
    assert clock.meeting_ms(first) == 10_000
    assert clock.meeting_ms(later) == 100_000
