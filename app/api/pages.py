"""The meeting page and its static files (plain HTML, CSS and JavaScript modules)."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)
static_files = StaticFiles(directory=STATIC_DIR)


@router.get("/meet/{meeting_id}")
def meeting_page(meeting_id: uuid.UUID) -> FileResponse:
    return FileResponse(STATIC_DIR / "meet.html", media_type="text/html")
