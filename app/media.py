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
    """Join WebM chunks in order into one WebM file (FFmpeg's concat demuxer, no
    re-encoding) and yield its bytes. Blocking: a generator for a streaming response,
    which iterates it in a worker thread."""
    workdir = Path(tempfile.mkdtemp(prefix="verbatim-join-"))
    try:
        listing = workdir / "chunks.txt"
        lines = []
        for index, key in enumerate(keys):
            path = workdir / f"{index:06d}.webm"
            path.write_bytes(store.get(key))
            lines.append(f"file '{path.name}'")
        listing.write_text("\n".join(lines) + "\n")
        joined = workdir / "track.webm"  # a file, not a pipe: the header gets the duration
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c", "copy", str(joined)],
            check=True, timeout=600, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with joined.open("rb") as handle:
            while piece := handle.read(CHUNK):
                yield piece
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
