"""Checks on a recording's manifest and its objects, shared by the recorder tests."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import tempfile
import time

import httpx

from app.storage import S3ObjectStore


def probe_seconds(data: bytes) -> float:
    with tempfile.NamedTemporaryFile(suffix=".webm") as handle:
        handle.write(data)
        handle.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                              "-of", "csv=p=0", handle.name], capture_output=True, text=True,
                             check=True, timeout=30)
    return float(out.stdout.strip())


async def wait_status(http: httpx.AsyncClient, recording_id: str, status: str,
                       headers: dict[str, str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = (await http.get(f"/v1/recordings/{recording_id}", headers=headers)).json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"recording stayed {body['status']}"
        await asyncio.sleep(0.5)


def check_complete(detail: dict, store: S3ObjectStore) -> None:
    keys = sorted(c["storage_key"] for c in detail["chunks"])
    assert keys == store.list(detail["storage_prefix"]), "every chunk stored exactly once"
    assert len(keys) == len(set(keys)) and all(c["uploaded_at"] for c in detail["chunks"])
    for chunk in detail["chunks"]:
        assert abs(probe_seconds(store.get(chunk["storage_key"])) * 1000
                   - chunk["duration_ms"]) < 100
    per_track: dict[str, list[int]] = {}
    for chunk in detail["chunks"]:
        per_track.setdefault(chunk["track_id"], []).append(chunk["seq"])
    for seqs in per_track.values():
        assert sorted(seqs) == list(range(len(seqs))), "no chunk number lost or repeated"
    check_timeline(detail)


def check_timeline(detail: dict) -> None:
    """Chunks follow each other on the meeting clock; anything missing is a recorded gap."""
    for track in detail["tracks"]:
        chunks = sorted((c for c in detail["chunks"] if c["track_id"] == track["id"]),
                        key=lambda c: c["seq"])
        gaps = [g for g in detail["gaps"] if g["track_id"] == track["id"]]
        assert 0 <= chunks[0]["start_ms"] < 60_000
        for before, after in itertools.pairwise(chunks):
            end = before["start_ms"] + before["duration_ms"]
            hole = after["start_ms"] - end
            covered = any(g["start_ms"] <= end + 100 and g["end_ms"] >= after["start_ms"] - 100
                          for g in gaps)
            assert -100 < hole < 150 or covered, (before, after, gaps)
