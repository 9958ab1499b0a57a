"""Chunks of real Opus and VP8 packets: each plays alone, and together they are whole."""

from __future__ import annotations

import fractions
import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from recorder.chunks import ChunkFile, ChunkWriter, chunk_key, is_vp8_keyframe
from tests.conftest import speech_file


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "format=duration:stream=codec_name", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def opus_packets(path: Path) -> list[av.Packet]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=48000)
    packets = []
    with av.open(str(path)) as source:
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                packets += encoder.encode(resampled)
    return packets


def vp8_packets(frames: int, keyframe_every: int = 30) -> list[av.Packet]:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 90000)
    encoder.options = {"g": str(keyframe_every), "keyint_min": str(keyframe_every)}
    packets = []
    for index in range(frames):
        image = np.full((120, 160, 3), (index * 7) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index * 3000, fractions.Fraction(1, 90000)
        packets += encoder.encode(frame)
    return packets + list(encoder.encode(None))


def decode_seconds(paths: list[Path]) -> float:
    samples = 0
    for path in paths:
        with av.open(str(path)) as container:
            samples += sum(frame.samples for frame in container.decode(audio=0))
    return samples / 48000


def test_audio_chunks_play_alone_and_add_up(tmp_path: Path) -> None:
    packets = opus_packets(speech_file("jfk.flac"))
    writer = ChunkWriter(kind="audio", directory=tmp_path, chunk_seconds=3)
    base = 4_000_000_000  # near the 32-bit wrap, extended by the caller
    chunks = []
    for index, packet in enumerate(packets):
        ticks = base + index * 960
        closed = writer.write(bytes(packet), ticks)
        chunks += [closed] if closed else []
    chunks.append(writer.close())
    assert [c.seq for c in chunks] == list(range(4))  # 11 s in 3 s chunks
    for chunk in chunks:
        probe = _probe(chunk.path)
        assert probe["streams"][0]["codec_name"] == "opus"
        assert abs(float(probe["format"]["duration"]) * 1000 - chunk.duration_ms) < 60
    assert [c.first_rtp - base for c in chunks] == [0, 144000, 288000, 432000]
    assert [c.duration_ms for c in chunks[:3]] == [3000, 3000, 3000]
    total = decode_seconds([c.path for c in chunks])
    assert abs(total - len(packets) * 0.02) < 0.1
    assert not list(tmp_path.glob("*.part"))


def test_video_chunks_start_at_keyframes(tmp_path: Path) -> None:
    packets = vp8_packets(150, keyframe_every=30)  # 5 s at 30 fps, keyframe each second
    writer = ChunkWriter(kind="video", directory=tmp_path, chunk_seconds=2)
    chunks = []
    for packet in packets[1:]:  # start mid-stream: before the first keyframe
        closed = writer.write(bytes(packet), packet.pts)
        chunks += [closed] if closed else []
    chunks.append(writer.close())
    assert len(chunks) == 2
    assert chunks[0].first_rtp == 90000  # the second keyframe, one second in
    for chunk in chunks:
        with av.open(str(chunk.path)) as container:
            first = next(container.demux(video=0))
            assert is_vp8_keyframe(bytes(first))
        with av.open(str(chunk.path)) as container:
            frames = list(container.decode(video=0))
        assert frames and frames[0].width == 160
        probe = _probe(chunk.path)
        assert probe["streams"][0]["codec_name"] == "vp8"
        assert abs(float(probe["format"]["duration"]) * 1000 - chunk.duration_ms) < 60
    assert [c.duration_ms for c in chunks] == [2000, 2000]


def test_late_and_repeated_packets_are_dropped(tmp_path: Path) -> None:
    """The jitter buffer may still hand over a packet late; a WebM muxer would refuse
    a timestamp that goes backwards, so the writer drops it and carries on."""
    packets = opus_packets(speech_file("jfk.flac"))[:150]  # 3 s
    order = list(range(len(packets)))
    for index in range(10, 140, 25):
        order[index], order[index + 1] = order[index + 1], order[index]
    order.insert(60, 59)  # a repeat
    writer = ChunkWriter(kind="audio", directory=tmp_path, chunk_seconds=1)
    chunks: list[ChunkFile] = []
    for index in order:
        closed = writer.write(bytes(packets[index]), 1000 + index * 960)
        chunks += [closed] if closed else []
    last = writer.close()
    assert last is not None
    chunks.append(last)
    assert writer.dropped == 6 + 1
    assert [c.seq for c in chunks] == [0, 1, 2]
    assert abs(decode_seconds([c.path for c in chunks]) - 3) < 0.15


def test_chunk_keys_are_deterministic() -> None:
    assert chunk_key("m", "r", "t", 7) == "recordings/m/r/t/000007.webm"


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ChunkWriter(kind="data", directory=tmp_path, chunk_seconds=1)
