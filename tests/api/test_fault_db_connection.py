"""PostgreSQL connections killed mid-flow (``pg_terminate_backend``): the steps that
lose their connection run again (``flows.steps``, ``custos.db.is_transient``) and the
transfer still becomes a stored AIP.

The kill is real and deterministic: a listener on the engine terminates the very
backend about to run the N-th ``INSERT INTO job`` (from a separate connection), so
that statement fails exactly as it would when the server restarts or an operator
terminates the session. Runs on PostgreSQL only (``CUSTOS_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import col, select

from custos import dispatch
from custos.db import get_engine, is_transient, session_scope
from custos.models import Job, JobStatus, Package, PackageStatus, Unit, UnitStatus
from custos.storage import LocationPurpose, default_location

#: the INSERT INTO job statements whose connection is killed (1-based)
KILL_AT = (4, 25)


def test_is_transient_knows_lost_connections() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    lost = OperationalError("SELECT 1", {}, Exception("terminating connection"))
    assert is_transient(lost)
    wrapped = RuntimeError("step failed")
    wrapped.__cause__ = lost
    assert is_transient(wrapped)
    assert not is_transient(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_transient(ValueError("bad input"))


def _wait(unit_uuid: str, timeout: float = 300) -> Unit:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert dispatch.inline_backend().wait_all(timeout)
        with session_scope() as s:
            unit = s.get(Unit, unit_uuid)
            if unit is not None and unit.status in (UnitStatus.COMPLETE, UnitStatus.FAILED):
                return unit
        time.sleep(0.2)
    raise AssertionError(f"unit {unit_uuid} did not finish")


def test_connections_killed_mid_flow_are_retried(
    client: TestClient, auth: dict[str, str], tmp_path: Path, custos_db: str
) -> None:
    if not custos_db.startswith("postgresql"):
        pytest.skip("pg_terminate_backend needs PostgreSQL: set CUSTOS_TEST_DATABASE_URL")
    os.chdir(tmp_path)  # inline flows run in this process: never in the checkout
    engine = get_engine()
    killer = sa.create_engine(custos_db, poolclass=sa.pool.NullPool)
    inserts = {"n": 0}
    killed: list[int] = []

    def kill_mid_statement(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.lstrip().upper().startswith("INSERT INTO JOB "):
            return
        inserts["n"] += 1
        if inserts["n"] in KILL_AT:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with killer.connect() as admin:
                assert admin.execute(sa.text(f"SELECT pg_terminate_backend({pid})")).scalar()
            killed.append(pid)

    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / "db-killed"
    folder.mkdir()
    (folder / "readme.txt").write_text("connections die\n")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    body = {
        "name": "db-killed",
        "path": base64.b64encode(f"{loc.uuid}:db-killed".encode()).decode(),
        "type": "standard",
        "processing_config": "automated",
    }
    event.listen(engine, "before_cursor_execute", kill_mid_statement)
    try:
        res = client.post("/api/v2beta/package/", content=json.dumps(body).encode(), headers=auth)
        assert res.status_code == 202, res.text
        transfer = _wait(res.json()["id"])
        assert transfer.status == UnitStatus.COMPLETE, transfer.error
        assert transfer.sip_uuid
        sip = _wait(transfer.sip_uuid)
    finally:
        event.remove(engine, "before_cursor_execute", kill_mid_statement)
        killer.dispose()
    assert len(killed) == len(KILL_AT)
    assert sip.status == UnitStatus.COMPLETE, sip.error
    with session_scope() as s:
        pkg = s.get(Package, sip.uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
        failed = s.exec(
            select(Job).where(
                col(Job.unit_uuid).in_([transfer.uuid, sip.uuid]),
                col(Job.status) == JobStatus.FAILED,
            )
        ).all()
    assert failed == []
