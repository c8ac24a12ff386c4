"""Migration 0002: every existing user gets the role matching what they used to do.

Runs the real migrations on a database of its own (a SQLite file, or a schema of
its own in the session's PostgreSQL database), with rows written at revision 0001.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from custos.db import alembic_config, make_engine


@pytest.fixture()
def fresh_engine(custos_db: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database for migrations, on the session's kind of database."""
    if not custos_db.startswith("postgresql"):
        engine = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(custos_db)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in custos_db else "?"
    engine = make_engine(f"{custos_db}{separator}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _insert(engine: Engine, table: str, **values: Any) -> None:
    """A row of ``table`` as revision 0001 has it, NOT NULL columns filled in."""
    meta = sa.MetaData()
    columns = sa.Table(table, meta, autoload_with=engine).columns
    defaults = {bool: False, int: 0, str: "x", datetime: datetime.now(UTC)}
    for column in columns:
        if column.name not in values and not column.nullable:
            values[column.name] = defaults.get(column.type.python_type)
    with engine.begin() as conn:
        conn.execute(sa.Table(table, meta).insert().values(**values))


def test_existing_users_get_roles(fresh_engine: Engine) -> None:
    config = alembic_config(fresh_engine)
    command.upgrade(config, "0001")
    for n, (name, admin) in enumerate(
        [("boss", True), ("archie", False), ("perma", False), ("both", False), ("boxer", False)], 1
    ):
        _insert(fresh_engine, "user", id=n, username=name, is_admin=admin)
    _insert(fresh_engine, "organization", id=1, name="Library")
    for user_id in (1, 3, 4):  # an admin member stays admin
        _insert(fresh_engine, "organizationmember", organization_id=1, user_id=user_id)
    _insert(fresh_engine, "unit", uuid=str(uuid.uuid4()), unit_type="transfer", created_by=2)
    _insert(fresh_engine, "unit", uuid=str(uuid.uuid4()), unit_type="SIP", created_by=4)
    _insert(fresh_engine, "unit", uuid=str(uuid.uuid4()), unit_type="capture", created_by=5)
    _insert(fresh_engine, "capture", uuid=str(uuid.uuid4()), guid="AAAA-BBBB", created_by=5)

    command.upgrade(config, "head")
    with fresh_engine.connect() as conn:
        roles = dict(conn.execute(sa.text('SELECT username, role FROM "user"')).all())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("user")}
    assert roles == {
        "boss": "admin",
        "archie": "archivist",
        "perma": "capture",
        "both": "archivist",
        "boxer": "capture",
    }
    assert "is_admin" not in columns

    command.downgrade(config, "0001")
    with fresh_engine.connect() as conn:
        flags = dict(conn.execute(sa.text('SELECT username, is_admin FROM "user"')).all())
    assert {name: bool(flag) for name, flag in flags.items()} == {
        "boss": True,
        "archie": False,
        "perma": False,
        "both": False,
        "boxer": False,
    }
