"""one agent row per identifier

Flow runs in several processes could each create the same PREMIS agent at the same
instant (a fresh home under load): every later lookup of that agent then failed
with "Multiple rows were found", and so did every job. Duplicates are merged (their
events point to the oldest row) and ``uq_agent_identifier`` keeps it so.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, identifier_type, identifier_value FROM agent ORDER BY id")
    ).all()
    keep: dict[tuple[str, str], int] = {}
    for agent_id, kind, value in rows:
        first = keep.setdefault((kind, value), agent_id)
        if first == agent_id:
            continue
        ids = {"dup": agent_id, "keep": first}
        conn.execute(  # an event linked to both keeps one link
            sa.text(
                "DELETE FROM eventagent WHERE agent_id = :dup AND event_uuid IN "
                "(SELECT event_uuid FROM eventagent WHERE agent_id = :keep)"
            ),
            ids,
        )
        conn.execute(sa.text("UPDATE eventagent SET agent_id = :keep WHERE agent_id = :dup"), ids)
        conn.execute(sa.text("DELETE FROM agent WHERE id = :dup"), ids)
    op.create_index(
        "uq_agent_identifier", "agent", ["identifier_type", "identifier_value"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_agent_identifier", table_name="agent")
