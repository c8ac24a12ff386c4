"""ended console sessions; console list indexes

- ``ended_session``: console sessions signed out before their cookie expired
  (``custos.sessions``): a copied cookie is refused once its session id is here.
- ``ix_unit_type_hidden_created``: the transfer and ingest lists (type, not hidden,
  newest first) without sorting every unit of the type;
- ``ix_unit_status_hidden_updated``: the dashboard's recent failures;
- ``ix_package_type_status_stored``: the AIP list and its bounded count from the
  index alone (type, status, newest stored first);
- ``ix_package_last_fixity_at`` and ``ix_package_fixity_outcome``: the dashboard's
  last fixity audit and damaged AIPs, the fixity search.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ended_session",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index("ix_ended_session_user_id", "ended_session", ["user_id"])
    op.create_index("ix_ended_session_expires_at", "ended_session", ["expires_at"])
    op.create_index("ix_unit_type_hidden_created", "unit", ["unit_type", "hidden", "created_at"])
    op.create_index("ix_unit_status_hidden_updated", "unit", ["status", "hidden", "updated_at"])
    op.create_index(
        "ix_package_type_status_stored", "package", ["package_type", "status", "stored_at", "uuid"]
    )
    op.create_index("ix_package_last_fixity_at", "package", ["last_fixity_at"])
    op.create_index("ix_package_fixity_outcome", "package", ["last_fixity_outcome"])


def downgrade() -> None:
    op.drop_index("ix_package_fixity_outcome", table_name="package")
    op.drop_index("ix_package_last_fixity_at", table_name="package")
    op.drop_index("ix_package_type_status_stored", table_name="package")
    op.drop_index("ix_unit_status_hidden_updated", table_name="unit")
    op.drop_index("ix_unit_type_hidden_created", table_name="unit")
    op.drop_index("ix_ended_session_expires_at", table_name="ended_session")
    op.drop_index("ix_ended_session_user_id", table_name="ended_session")
    op.drop_table("ended_session")
