"""Archival storage search indexes

- ``ix_package_type_stored``: the AIP list, newest stored first;
- ``ix_unit_accession``: AIPs by their SIP's accession number;
- ``ix_file_puid_sip`` and ``ix_file_format_sip``: AIPs holding a file of a format
  (PRONOM id, format name), answered from the index alone.

Revision ID: 0003_aip_search
Revises: 0002
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_aip_search"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_package_type_stored", "package", ["package_type", "stored_at"])
    op.create_index("ix_unit_accession", "unit", ["accession"])
    op.create_index("ix_file_puid_sip", "file", ["puid", "sip_uuid"])
    op.create_index("ix_file_format_sip", "file", ["format_name", "sip_uuid"])


def downgrade() -> None:
    op.drop_index("ix_file_format_sip", table_name="file")
    op.drop_index("ix_file_puid_sip", table_name="file")
    op.drop_index("ix_unit_accession", table_name="unit")
    op.drop_index("ix_package_type_stored", table_name="package")
