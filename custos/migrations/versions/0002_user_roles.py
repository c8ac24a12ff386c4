"""user roles

Every user gets one role (``admin``, ``archivist``, ``capture`` or ``auditor``)
instead of the ``is_admin`` flag. Existing users keep what they could do:

- ``is_admin`` users become ``admin``;
- users who only ever used the capture dialects become ``capture``: not admin,
  a member of a Perma.cc organisation or the creator of a capture, and the
  creator of no transfer or SIP;
- every other user becomes ``archivist`` (before roles any key could start
  transfers; ``archivist`` keeps that and withdraws only administration).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAPTURE_ONLY = sa.text("""
    UPDATE "user" SET role = 'capture'
    WHERE role = 'archivist'
      AND (id IN (SELECT user_id FROM organizationmember)
           OR id IN (SELECT created_by FROM capture WHERE created_by IS NOT NULL))
      AND id NOT IN (SELECT created_by FROM unit WHERE created_by IS NOT NULL
                     AND unit_type IN ('transfer', 'SIP'))
""")


def upgrade() -> None:
    op.add_column(
        "user",
        sa.Column(
            "role",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="archivist",
        ),
    )
    op.execute(sa.text("UPDATE \"user\" SET role = 'admin' WHERE is_admin"))
    op.execute(CAPTURE_ONLY)
    # SQLite (3.35+) drops a plain column in place; alembic's batch mode would copy
    # the table, which fails while other tables' foreign keys point at it.
    op.drop_column("user", "is_admin")


def downgrade() -> None:
    op.add_column(
        "user", sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.execute(sa.text("UPDATE \"user\" SET is_admin = (role = 'admin')"))
    op.drop_column("user", "role")
