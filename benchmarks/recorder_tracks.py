"""Recorder cost per audio track and per video track.

    .venv/bin/python benchmarks/recorder_tracks.py [--seconds 120] [--audio 4] [--video 1]

Publishers (aiortc peers sending an Opus tone or VP8 test video) connect to receivers
that yield encoded packets, as the recorder's do. Each kind is measured twice in one
run: once with the receivers only draining packets (the baseline: publishing and
receiving), once with every track recorded for real (WebM chunks, the spool, a local
object store). The difference is what recording costs: CPU as a share of one core, and
resident memory, per track.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack
from sfu_forwarding import CONFIG, Tone, connect

from app.storage import LocalObjectStore
from recorder.chunks import ChunkFile
from recorder.rtpclock import MediaClock
from recorder.spool import Spool, SpooledChunk
from recorder.track import Gap, TrackRecorder
from sfu.passthrough import install_passthrough


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def link(source: MediaStreamTrack) -> tuple[MediaStreamTrack, list[RTCPeerConnection]]:
    publisher, receiver = RTCPeerConnection(CONFIG), RTCPeerConnection(CONFIG)
    publisher.addTrack(source)
    transceiver = receiver.addTransceiver(source.kind, direction="recvonly")
    install_passthrough(transceiver.receiver)
    await connect(receiver, publisher)
    return transceiver.receiver.track, [publisher, receiver]


async def drain(track: MediaStreamTrack) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        return


async def record(track: MediaStreamTrack, spool: Spool, workdir: Path) -> None:
    track_id = uuid.uuid4()
    clock = MediaClock(clock_rate=48000 if track.kind == "audio" else 90000,
                       meeting_start_unix=time.time())

    async def on_chunk(chunk: ChunkFile, start_ms: int) -> None:
        await spool.add(chunk.path, SpooledChunk(
            key=f"bench/{track_id}/{chunk.seq:06d}.webm", recording_id="bench",
            track_id=str(track_id), participant_id="p", kind=track.kind, seq=chunk.seq,
            start_ms=start_ms, duration_ms=chunk.duration_ms, size_bytes=chunk.size_bytes,
            sha256=chunk.sha256))

    async def on_gap(gap: Gap) -> None:
        return None

    await TrackRecorder(track=track, track_id=track_id, clock=clock,
                        directory=workdir / str(track_id), chunk_seconds=10, first_seq=0,
                        resume_from_ms=None, on_chunk=on_chunk, on_gap=on_gap).run()


async def run(kind: str, tracks: int, seconds: float, recording: bool) -> tuple[float, int]:
    """CPU (share of a core) and RSS growth (KiB) while ``tracks`` tracks flow."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        spool = Spool(workdir / "spool", LocalObjectStore(workdir / "objects"))
        spool.start()
        pcs: list[RTCPeerConnection] = []
        tasks = []
        for _ in range(tracks):
            remote, linked = await link(Tone() if kind == "audio" else VideoStreamTrack())
            pcs += linked
            work = record(remote, spool, workdir) if recording else drain(remote)
            tasks.append(asyncio.create_task(work))
        await asyncio.sleep(3)
        rss, cpu, wall = rss_kib(), time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        used = (time.process_time() - cpu) / (time.perf_counter() - wall)
        grown = rss_kib() - rss
        for pc in pcs:
            await pc.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await spool.drain(30)
        await spool.aclose()
        return used, grown


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--audio", type=int, default=4)
    parser.add_argument("--video", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}, "
          f"{args.seconds:.0f} s per run")
    for kind, count in (("audio", args.audio), ("video", args.video)):
        base_cpu, base_rss = await run(kind, count, args.seconds, recording=False)
        rec_cpu, rec_rss = await run(kind, count, args.seconds, recording=True)
        print(f"{kind}: {count} track(s) | publish+receive {base_cpu * 100:5.1f}% | with "
              f"recording {rec_cpu * 100:5.1f}% | recording per track "
              f"{(rec_cpu - base_cpu) / count * 100:5.2f}% of a core, "
              f"{(rec_rss - base_rss) / count / 1024:+.1f} MiB RSS")


if __name__ == "__main__":
    asyncio.run(main())
