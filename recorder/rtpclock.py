"""RTP time: unwrapping 32-bit timestamps and 16-bit sequence numbers, and mapping RTP
time to the meeting clock with RTCP sender reports.

RTP timestamps wrap every 2^32 ticks (about 25 hours of audio at 48 kHz, 13 hours of
video at 90 kHz, but they start at a random value, so a wrap can come at any moment) and
sequence numbers every 65536 packets. ``Unwrapper`` extends them to monotonically
comparable integers, tolerating reordering of up to half the range. ``GapDetector``
finds where a stream's RTP time jumps further than jitter can explain (mute, loss, a
sender that left).
"""

from __future__ import annotations

from dataclasses import dataclass

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)


class Unwrapper:
    """Extends a wrapping counter of ``bits`` bits to an unbounded integer.

    The first value is placed one full cycle up (``raw + 2**bits``), so a late value from
    before a wrap that the stream started just after still extends to a non-negative,
    smaller integer. Only differences between extended values mean anything.
    """

    __slots__ = ("_half", "_highest", "_last_raw", "_modulus")

    def __init__(self, bits: int) -> None:
        self._modulus = 1 << bits
        self._half = self._modulus >> 1
        self._last_raw: int | None = None
        self._highest = 0

    def unwrap(self, raw: int) -> int:
        """The extended value of ``raw``: nearest to the highest value seen so far."""
        raw %= self._modulus
        if self._last_raw is None:
            self._last_raw, self._highest = raw, raw + self._modulus
            return self._highest
        delta = (raw - self._last_raw) % self._modulus
        if delta >= self._half:
            delta -= self._modulus  # behind the highest: a late (reordered) value
        extended = self._highest + delta
        if extended > self._highest:
            self._highest, self._last_raw = extended, raw
        return extended


@dataclass(frozen=True, slots=True)
class RtpGap:
    """RTP time (extended) from the last packet before a gap to the first one after."""

    start_rtp: int
    end_rtp: int


class GapDetector:
    """Reports a gap when a stream's extended RTP time jumps forward by more than
    ``threshold_seconds``; late (reordered) packets never open one."""

    __slots__ = ("_highest", "_threshold")

    def __init__(self, *, clock_rate: int, threshold_seconds: float) -> None:
        self._threshold = round(clock_rate * threshold_seconds)
        self._highest: int | None = None

    def observe(self, extended_rtp: int) -> RtpGap | None:
        highest, self._highest = self._highest, extended_rtp
        if highest is None:
            return None
        if extended_rtp <= highest:
            self._highest = highest  # late or repeated: nothing new
            return None
        if extended_rtp - highest > self._threshold:
            return RtpGap(highest, extended_rtp)
        return None


def ntp_to_unix(ntp_timestamp: int) -> float:
    """A 64-bit NTP timestamp (32.32 fixed point since 1900) as Unix seconds."""
    return (ntp_timestamp >> 32) - NTP_EPOCH_OFFSET + (ntp_timestamp & 0xFFFFFFFF) / 2**32


@dataclass(slots=True)
class _Anchor:
    extended_rtp: int
    unix_seconds: float


class MediaClock:
    """Maps one stream's RTP timestamps to milliseconds on the meeting clock.

    Sender reports give (NTP time, RTP timestamp) pairs: the sender's wall clock for a
    point of the stream. Before the first report the first packet's arrival time stands
    in, and is replaced as soon as a report arrives. Between reports, time advances with
    the RTP timestamps alone, so network jitter never moves a sample.
    """

    def __init__(self, *, clock_rate: int, meeting_start_unix: float) -> None:
        self.clock_rate = clock_rate
        self._meeting_start = meeting_start_unix
        self._unwrap = Unwrapper(32)
        self._anchor: _Anchor | None = None
        self.from_sender_report = False

    def extend(self, rtp_timestamp: int) -> int:
        return self._unwrap.unwrap(rtp_timestamp)

    def on_packet(self, extended_rtp: int, arrival_unix: float) -> None:
        if self._anchor is None:
            self._anchor = _Anchor(extended_rtp, arrival_unix)

    def on_sender_report(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        self._anchor = _Anchor(self.extend(rtp_timestamp), ntp_to_unix(ntp_timestamp))
        self.from_sender_report = True

    def meeting_ms(self, extended_rtp: int) -> int:
        if self._anchor is None:
            raise RuntimeError("no packet and no sender report yet")
        seconds = self._anchor.unix_seconds + (
            extended_rtp - self._anchor.extended_rtp) / self.clock_rate
        return round((seconds - self._meeting_start) * 1000)
