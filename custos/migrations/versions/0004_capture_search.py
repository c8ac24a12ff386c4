"""capture full-text search

The ``capture_fts`` index of ``custos.capture_search``: an FTS5 virtual table on
SQLite; on PostgreSQL a table with a ``tsvector`` column and a GIN index. The
title and URL of existing captures are indexed here; the text of their pages by
``custos.capture_search.reindex()``.

Revision ID: 0004
Revises: 0003_aip_search
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003_aip_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            sa.text(
                "CREATE TABLE capture_fts ("
                " capture_uuid VARCHAR(36) PRIMARY KEY"
                " REFERENCES capture (uuid) ON DELETE CASCADE,"
                " title TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '',"
                " body TEXT NOT NULL DEFAULT '', document TSVECTOR NOT NULL)"
            )
        )
        op.execute(sa.text("CREATE INDEX ix_capture_fts_document ON capture_fts USING gin (document)"))
        op.execute(
            sa.text(
                "INSERT INTO capture_fts (capture_uuid, title, url, body, document) "
                "SELECT uuid, coalesce(title, ''), url, '', "
                "setweight(to_tsvector('simple', coalesce(title, '')), 'A') || "
                "setweight(to_tsvector('simple', "
                "regexp_replace(url, '[^[:alnum:]]+', ' ', 'g')), 'B') "
                "FROM capture WHERE status = 'succeeded'"
            )
        )
    else:
        op.execute(
            sa.text(
                "CREATE VIRTUAL TABLE capture_fts USING fts5("
                "capture_uuid UNINDEXED, title, url, body, "
                "tokenize = 'unicode61 remove_diacritics 2')"
            )
        )
        op.execute(
            sa.text(
                "INSERT INTO capture_fts (capture_uuid, title, url, body) "
                "SELECT uuid, coalesce(title, ''), url, '' FROM capture WHERE status = 'succeeded'"
            )
        )


def downgrade() -> None:
    op.execute(sa.text("DROP TABLE IF EXISTS capture_fts"))
