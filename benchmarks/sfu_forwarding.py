"""SFU cost: CPU per forwarded audio stream, against aiortc's MediaRelay, in one run;
and the SFU's steady-state bookkeeping memory for a 10-user meeting (seed 000: ~9 KB).

    .venv/bin/python benchmarks/sfu_forwarding.py [--seconds 10] [--subscribers 4]

Both forwarders get the same publisher (an Opus tone) and the same subscribers (which
do not decode, so their cost is small and equal in both runs). "passthrough" is
Verbatim's path: packets are relayed still encoded. "mediarelay" is the classic aiortc
server: the receiver decodes, ``MediaRelay`` fans out, and every subscriber's sender
re-encodes. CPU is this process's CPU time per wall second; the cost per forwarded
stream is the increase over a run with no subscribers, divided by the subscribers.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import platform
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
)
from aiortc.contrib.media import MediaRelay

from sfu.forwarding import PublishedTrack
from sfu.passthrough import install_passthrough
from sfu.quality import RtcpReport, UserSession

CONFIG = RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Tone(MediaStreamTrack):
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        self._start = self._start if self._start is not None else loop.time()
        await asyncio.sleep(max(0.0, self._start + self._samples / 48000 - loop.time()))
        t = (np.arange(960) + self._samples) / 48000
        pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, self._samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._samples += 960
        return frame


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection,
                  before_answer: Callable[[], None] | None = None) -> None:
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    if before_answer:
        before_answer()
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def drain(track: MediaStreamTrack) -> None:
    try:
        while True:
            await track.recv()
    except Exception:  # the track ended: the benchmark is over
        return


Forwarder = Callable[[MediaStreamTrack], Awaitable[Callable[[], MediaStreamTrack]]]


async def passthrough_source(publisher_track: MediaStreamTrack
                             ) -> tuple[MediaStreamTrack, list[RTCPeerConnection]]:
    publisher, server = RTCPeerConnection(CONFIG), RTCPeerConnection(CONFIG)
    publisher.addTrack(publisher_track)
    transceiver = server.addTransceiver("audio", direction="recvonly")
    install_passthrough(transceiver.receiver)
    await connect(server, publisher)
    return transceiver.receiver.track, [publisher, server]


async def decoded_source(publisher_track: MediaStreamTrack
                         ) -> tuple[MediaStreamTrack, list[RTCPeerConnection]]:
    publisher, server = RTCPeerConnection(CONFIG), RTCPeerConnection(CONFIG)
    publisher.addTrack(publisher_track)
    transceiver = server.addTransceiver("audio", direction="recvonly")
    await connect(server, publisher)
    return transceiver.receiver.track, [publisher, server]


async def subscriber(track: MediaStreamTrack) -> tuple[list[RTCPeerConnection],
                                                       asyncio.Task[None]]:
    server, client = RTCPeerConnection(CONFIG), RTCPeerConnection(CONFIG)
    server.addTransceiver(track, direction="sendonly")

    def no_decoding() -> None:
        for transceiver in client.getTransceivers():
            install_passthrough(transceiver.receiver)

    received: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    client.on("track", lambda t: received.done() or received.set_result(t))
    await connect(server, client, before_answer=no_decoding)
    remote = await asyncio.wait_for(received, 10)
    return [server, client], asyncio.create_task(drain(remote))


async def run(mode: str, subscribers: int, seconds: float) -> float:
    """CPU seconds per wall second for one forwarding mode."""
    if mode == "passthrough":
        source, pcs = await passthrough_source(Tone())
        published = PublishedTrack(source, participant_id="publisher")
        published.start()
        make = published.subscribe
    else:
        source, pcs = await decoded_source(Tone())
        relay = MediaRelay()
        sink = relay.subscribe(source)  # keeps the decoder running with no subscribers
        tasks_extra = [asyncio.create_task(drain(sink))]

        def make() -> MediaStreamTrack:
            return relay.subscribe(source)

    tasks: list[asyncio.Task[None]] = [] if mode == "passthrough" else tasks_extra
    if mode == "passthrough":
        tasks.append(asyncio.create_task(_sink_published(published)))
    for _ in range(subscribers):
        sub_pcs, task = await subscriber(make())
        pcs += sub_pcs
        tasks.append(task)
    await asyncio.sleep(3)  # warm up: ICE, DTLS, first packets
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    used = (time.process_time() - cpu) / (time.perf_counter() - wall)
    for task in tasks:
        task.cancel()
    if mode == "passthrough":
        await published.aclose()
    for pc in pcs:
        await pc.close()
    return used


async def _sink_published(published: PublishedTrack) -> None:
    await drain(published.subscribe())  # the run with no subscribers still relays


def bookkeeping_bytes(users: int = 10) -> int:
    """Memory of the SFU's per-meeting bookkeeping with full report windows."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sessions = {}
    for index in range(users):
        session = UserSession(user_id=f"{index:036d}", pc_id=f"{index:032x}")
        for report in range(10):
            session.add_report(RtcpReport(loss_pct=1.0, jitter_ms=5.0, rtt_ms=40.0,
                                          timestamp_ms=1_700_000_000_000 + report))
        session.note_bytes(1000, 5000, 1)
        sessions[session.user_id] = session
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del sessions
    return size


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--subscribers", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}")
    results = {}
    for mode in ("passthrough", "mediarelay"):
        idle = await run(mode, 0, args.seconds)
        busy = await run(mode, args.subscribers, args.seconds)
        per_stream = (busy - idle) / args.subscribers
        results[mode] = per_stream
        print(f"{mode:12s} cpu with 0 subscribers {idle * 100:5.1f}% | with "
              f"{args.subscribers}: {busy * 100:5.1f}% | per forwarded stream "
              f"{per_stream * 100:5.2f}% of a core")
    if results["passthrough"] > 0:
        print(f"mediarelay / passthrough cost per stream: "
              f"{results['mediarelay'] / results['passthrough']:.1f}x")
    print(f"bookkeeping for a 10-user meeting: {bookkeeping_bytes()} bytes "
          f"(seed 000 target ~9000)")


if __name__ == "__main__":
    asyncio.run(main())
