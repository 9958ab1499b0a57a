"""Running the Alembic migrations from code (``verbatim migrate``, ``verbatim dev``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from app.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


SEARCH_OBJECTS = "transcript_segments_fts"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the full-text search objects, which SQLModel does not describe, to migrations."""
    return SEARCH_OBJECTS not in (name or "")


def alembic_config(settings: Settings) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["url"] = settings.sqlalchemy_url
    config.attributes["configure_logger"] = False
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    command.downgrade(alembic_config(settings), revision)
