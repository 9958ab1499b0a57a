"""full-text search over transcript segments

PostgreSQL: a GIN index on to_tsvector('english', text).
SQLite: an FTS5 table kept in step with transcript_segments by triggers.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE transcript_segments_fts USING fts5(
           text, content='transcript_segments', content_rowid='rowid',
           tokenize='porter unicode61')""",
    """CREATE TRIGGER transcript_segments_fts_insert AFTER INSERT ON transcript_segments BEGIN
           INSERT INTO transcript_segments_fts(rowid, text) VALUES (new.rowid, new.text);
       END""",
    """CREATE TRIGGER transcript_segments_fts_delete AFTER DELETE ON transcript_segments BEGIN
           INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, text)
           VALUES ('delete', old.rowid, old.text);
       END""",
    """CREATE TRIGGER transcript_segments_fts_update AFTER UPDATE ON transcript_segments BEGIN
           INSERT INTO transcript_segments_fts(transcript_segments_fts, rowid, text)
           VALUES ('delete', old.rowid, old.text);
           INSERT INTO transcript_segments_fts(rowid, text) VALUES (new.rowid, new.text);
       END""",
    "INSERT INTO transcript_segments_fts(transcript_segments_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS transcript_segments_fts_update",
    "DROP TRIGGER IF EXISTS transcript_segments_fts_delete",
    "DROP TRIGGER IF EXISTS transcript_segments_fts_insert",
    "DROP TABLE IF EXISTS transcript_segments_fts",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_transcript_segments_fts ON transcript_segments "
            "USING gin (to_tsvector('english', text))"
        )
        return
    for statement in SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_transcript_segments_fts")
        return
    for statement in SQLITE_DOWN:
        op.execute(statement)
