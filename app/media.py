"""FFmpeg work on recorded media."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from app.storage import ObjectStore

CHUNK = 256 * 1024


def join_chunks(store: ObjectStore, keys: list[str]) -> Iterator[bytes]:
    """Join WebM chunks in order into one WebM stream (FFmpeg's concat demuxer, no
    re-encoding). Blocking: a generator for a streaming response's worker thread."""
    workdir = Path(tempfile.mkdtemp(prefix="verbatim-join-"))
    try:
        listing = workdir / "chunks.txt"
        lines = []
        for index, key in enumerate(keys):
            path = workdir / f"{index:06d}.webm"
            path.write_bytes(store.get(key))
            lines.append(f"file '{path.name}'")
        listing.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c", "copy", "-f", "webm", "pipe:1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert process.stdout is not None
        with process:
            while piece := process.stdout.read(CHUNK):
                yield piece
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
