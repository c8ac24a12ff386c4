"""console indexes: a transfer's SIP, stored AIPs' total size

- ``ix_unit_sip_uuid``: the backlog (transfers whose ``sip_uuid`` is ``BACKLOG``) and
  a SIP's page (the transfers that made it) without scanning every unit;
- ``ix_package_type_status_size``: the dashboard's count and total size of stored
  AIPs from the index alone (no package row read).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_unit_sip_uuid", "unit", ["sip_uuid"])
    op.create_index("ix_package_type_status_size", "package", ["package_type", "status", "size"])


def downgrade() -> None:
    op.drop_index("ix_package_type_status_size", table_name="package")
    op.drop_index("ix_unit_sip_uuid", table_name="unit")
