"""Migrations run up, down and up again from empty, and agree with the models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app import migrations
from app.config import Settings
from tests.conftest import fresh_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return fresh_postgres_database(f"verbatim_migrations_{os.getpid()}")


def _tables(url: str, *, search: bool = False) -> set[str]:
    """The tables in a database; with ``search``, the full-text search tables too."""
    engine = sa.create_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
        return {n for n in names if search or migrations.include_name(n, "table", None)}
    finally:
        engine.dispose()


def _pending_diff(url: str) -> list[object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "compare_type": True, "include_name": migrations.include_name})
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    settings = Settings(database_url=empty_database)
    migrations.upgrade(settings)
    assert _tables(empty_database) == set(SQLModel.metadata.tables)
    migrations.downgrade(settings, "base")
    assert _tables(empty_database, search=True) == set()
    migrations.upgrade(settings)
    assert _tables(empty_database) == set(SQLModel.metadata.tables)


def test_models_and_migrations_agree(empty_database: str) -> None:
    migrations.upgrade(Settings(database_url=empty_database))
    assert _pending_diff(empty_database) == []
