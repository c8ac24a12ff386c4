"""The polling endpoints' cost: one statement each, indexed plans, cached credentials.

Archivematica clients poll ``transfer/status`` / ``ingest/status`` every few
seconds per unit, so these paths must stay one indexed query with no per-request
write. The statement counts are taken with SQLAlchemy's ``before_cursor_execute``
event on the session's engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, update
from sqlmodel import col

from api.archivematica import auth as am_auth
from api.archivematica import jobs as am_jobs
from api.archivematica import units as am_units
from custos import accounts, keyuse
from custos.db import get_engine, session_scope
from custos.models import ApiKey, Task, Unit, UnitStatus, UnitType
from custos.recorder import Recorder
from tests.api.am_helpers import add_jobs, make_unit


@pytest.fixture()
def statements() -> Iterator[list[str]]:
    """SQL statements sent to the database while the test runs."""
    seen: list[str] = []
    engine = get_engine()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def reads(statements: list[str]) -> list[str]:
    """The statements that touch tables (not the driver's BEGIN/COMMIT/pragmas)."""
    return [
        s
        for s in statements
        if s.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE"))
    ]


def test_status_jobs_and_completed_are_one_statement_each(
    client: TestClient, auth: dict[str, str], statements: list[str]
) -> None:
    uuid = make_unit(name="poll")
    add_jobs(
        uuid,
        ("Verify transfer compliance", "Move to processing directory"),
        ("Scan for viruses", "Scan for viruses in directories"),
    )
    assert client.get(f"/api/transfer/status/{uuid}", headers=auth).status_code == 200
    assert accounts.flush_key_use()  # the new key's last_used_at, written in the background
    statements.clear()  # credentials and pipeline id are now cached
    for path in (
        f"/api/transfer/status/{uuid}",
        f"/api/v2beta/jobs/{uuid}",
        "/api/transfer/completed",
    ):
        res = client.get(path, headers=auth)
        assert res.status_code == 200, res.text
        assert len(reads(statements)) == 1, (path, statements)
        assert not any(s.lstrip().upper().startswith(("UPDATE", "INSERT")) for s in statements), (
            "a poll must not write"
        )
        statements.clear()
    body = client.get(f"/api/transfer/status/{uuid}", headers=auth).json()
    assert (body["status"], body["microservice"]) == (
        "PROCESSING",
        "Scan for viruses in directories",
    )


def test_polling_queries_use_their_indexes() -> None:
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")

    def plan(query: Any, params: dict[str, Any]) -> str:
        compiled = query.compile(engine)
        values = compiled.construct_params(params)
        args = tuple(values[k] for k in compiled.positiontup or ())
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args).all()
        return " | ".join(str(r[-1]) for r in rows)

    status_plan = plan(am_units._STATUS_QUERY, {"unit_uuid": "x"})
    assert "ix_job_unit_uuid_seq" in status_plan and "TEMP B-TREE" not in status_plan
    assert "ix_job_unit_uuid_seq" in plan(am_jobs._JOBS_QUERY, {"unit_uuid": "x"})
    completed_plan = plan(am_units._COMPLETED_QUERY, {"unit_type": "transfer"})
    # by status and type, or by type and hidden (migration 0005): SQLite picks either
    assert any(
        ix in completed_plan
        for ix in ("ix_unit_status_type_created", "ix_unit_type_hidden_created")
    ), completed_plan
    assert "TEMP B-TREE" not in completed_plan  # already in creation order


def test_completed_lists_the_cached_status(client: TestClient, auth: dict[str, str]) -> None:
    base = datetime.now(UTC) - timedelta(days=3)
    first = make_unit(status=UnitStatus.COMPLETE, created_at=base)
    second = make_unit(status=UnitStatus.COMPLETE, created_at=base + timedelta(hours=1))
    hidden = make_unit(status=UnitStatus.COMPLETE, hidden=True)
    running = make_unit(status=UnitStatus.PROCESSING)
    sip = make_unit(UnitType.SIP, status=UnitStatus.COMPLETE)
    results = client.get("/api/transfer/completed", headers=auth).json()["results"]
    assert results.index(first) < results.index(second)  # no jobs needed: cached status
    assert hidden not in results and running not in results and sip not in results
    assert sip in client.get("/api/ingest/completed", headers=auth).json()["results"]


def test_jobs_with_several_tasks_and_none(client: TestClient, auth: dict[str, str]) -> None:
    uuid = make_unit(UnitType.SIP)
    rec = Recorder()
    with rec.job(uuid, "Normalize", "Normalize for preservation") as job:
        t1 = job.task(file_name="a.tif", exit_code=0)
        t2 = job.task(file_name="b.tif", exit_code=1)
    later = datetime.now(UTC) + timedelta(seconds=5)
    with session_scope() as s:  # creation order decides, not insertion order
        s.execute(
            update(Task)
            .where(col(Task.uuid) == t1)
            .values(created_at=later, started_at=later, ended_at=later + timedelta(2))
        )
    rec.record_job(uuid, "Store AIP", "Store the AIP")
    body = client.get(f"/api/v2beta/jobs/{uuid}/", headers=auth, params={"detailed": ""}).json()
    assert [j["name"] for j in body] == ["Normalize for preservation", "Store the AIP"]
    assert [t["uuid"] for t in body[0]["tasks"]] == [t2, t1]
    assert body[0]["tasks"][1]["duration"] == 2 * 86400
    assert body[0]["tasks"][0]["exit_code"] == 1 and body[0]["tasks"][0]["file_name"] == "b.tif"
    assert body[1]["tasks"] == []
    plain = client.get(f"/api/v2beta/jobs/{uuid}", headers=auth).json()
    assert plain[0]["tasks"] == [{"uuid": t2, "exit_code": 1}, {"uuid": t1, "exit_code": 0}]
    only = client.get(
        f"/api/v2beta/jobs/{uuid}", headers=auth, params={"name": "Store the AIP"}
    ).json()
    assert [j["name"] for j in only] == ["Store the AIP"]


def test_status_of_a_unit_of_the_other_type_is_unknown(
    client: TestClient, auth: dict[str, str]
) -> None:
    sip = make_unit(UnitType.SIP, name="s")
    add_jobs(sip, ("Store AIP", "Remove the processing directory"))
    res = client.get(f"/api/transfer/status/{sip}", headers=auth)
    assert res.status_code == 400
    assert res.json()["message"] == f"Cannot fetch unitTransfer with UUID {sip}"
    body = client.get(f"/api/ingest/status/{sip}", headers=auth).json()
    assert (body["type"], body["status"], body["path"], body["directory"]) == (
        "SIP",
        "COMPLETE",
        "",
        "s",
    )


# -- credentials ---------------------------------------------------------------


def _key_row(user: str) -> ApiKey:
    """The API key row of ``user`` (the fixtures give each user one key)."""
    from sqlmodel import select

    from custos.models import User

    with session_scope() as s:
        return s.exec(
            select(ApiKey)
            .join(User, col(User.id) == col(ApiKey.user_id))
            .where(col(User.username) == user)
        ).one()


def test_cache_hit_needs_no_lookup_and_revocation_waits_for_the_cache(
    client: TestClient, am_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, key = am_user
    headers = {"Authorization": f"ApiKey {user}:{key}"}
    assert client.get("/api/transfer/completed", headers=headers).status_code == 200
    calls: list[str] = []
    real = am_auth.key_owner

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("lookup")
        return real(*args, **kwargs)

    monkeypatch.setattr(am_auth, "key_owner", counting)
    for _ in range(5):
        assert client.get("/api/transfer/completed", headers=headers).status_code == 200
    assert calls == []  # served from the cache
    row = _key_row(user)
    with session_scope() as s:
        s.execute(update(ApiKey).where(col(ApiKey.id) == row.id).values(revoked=True))
    # documented: a revoked key works until its cache entry expires (or is cleared)
    assert client.get("/api/transfer/completed", headers=headers).status_code == 200
    am_auth.clear_cache()
    assert client.get("/api/transfer/completed", headers=headers).status_code == 403
    assert calls == ["lookup"]


def test_cache_entry_expires(
    client: TestClient, am_user: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, key = am_user
    headers = {"Authorization": f"ApiKey {user}:{key}"}
    monkeypatch.setattr(am_auth, "CACHE_SECONDS", 0.2)
    assert client.get("/api/transfer/completed", headers=headers).status_code == 200
    with session_scope() as s:
        s.execute(update(ApiKey).where(col(ApiKey.id) == _key_row(user).id).values(revoked=True))
    time.sleep(0.3)
    assert client.get("/api/transfer/completed", headers=headers).status_code == 403


def test_key_use_is_written_in_the_background_once_per_interval(
    am_user: tuple[str, str], statements: list[str]
) -> None:
    user, key = am_user
    accounts.forget_key_use()
    assert accounts.user_for_key(key, user) is not None
    assert accounts.flush_key_use()
    first = _key_row(user).last_used_at
    assert first is not None
    statements.clear()
    for _ in range(3):
        assert accounts.user_for_key(key, user) is not None
    assert accounts.flush_key_use()
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert _key_row(user).last_used_at == first


def test_a_locked_database_neither_slows_nor_fails_key_checks(am_user: tuple[str, str]) -> None:
    user, key = am_user
    accounts.forget_key_use()
    row = _key_row(user)
    engine = get_engine()
    with engine.connect() as holder:  # another writer holds the lock (SQLite) / the row
        holder.begin()
        holder.execute(update(ApiKey).where(col(ApiKey.id) == row.id).values(label="busy"))
        started = time.monotonic()
        assert accounts.user_for_key(key, user) is not None
        assert time.monotonic() - started < 2.0  # the write waits, not the caller
        holder.rollback()
    assert accounts.flush_key_use(30)
    assert _key_row(user).last_used_at is not None


def test_a_failed_key_use_write_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    broken: Engine = create_engine("sqlite://")  # no tables: the UPDATE fails
    writer = keyuse._LastUseWriter(60.0)
    writer.note(broken, 7, None)
    with caplog.at_level(logging.WARNING, logger="custos.keyuse"):
        assert writer.flush()
    assert "could not record the use of API key 7" in caplog.text
    statements: list[str] = []
    event.listen(
        broken, "before_cursor_execute", lambda _c, _cu, stmt, *_a: statements.append(stmt)
    )
    writer.note(broken, 7, None)  # the failed slot was released: tried again
    assert writer.flush()
    assert any(s.startswith("UPDATE") for s in statements)


def test_unit_row_helpers_keep_archivematica_paths() -> None:
    unit = Unit(unit_type=UnitType.TRANSFER, name="ab", current_path="/p/ab-1")
    assert (am_units.directory_of(unit), am_units.shown_path(unit)) == ("ab-1", "/p/ab-1/")
    assert am_units.path_as_shown("/p/x.zip") == "/p/x.zip"
    assert am_units.directory_name(None, "ab") == "ab"


def test_status_reads_on_the_event_loop_only_for_sqlite(
    client: TestClient, auth: dict[str, str]
) -> None:
    """The status poll skips the thread pool on SQLite, and keeps it elsewhere."""
    import threading

    uuid = make_unit(name="loop")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    engine = get_engine()
    threads: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM unit LEFT OUTER JOIN job" in statement:
            threads.append(threading.current_thread().name)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(f"/api/transfer/status/{uuid}", headers=auth).status_code == 200
        assert client.get("/api/ingest/status/" + uuid, headers=auth).status_code == 400
    finally:
        event.remove(engine, "before_cursor_execute", record)
    in_pool = [name.startswith("AnyIO worker thread") for name in threads]
    assert in_pool == [engine.dialect.name != "sqlite"] * 2, threads


def test_sqlite_connections_stay_pooled_and_read_through_mmap() -> None:
    """Connections outlive a request (no reconnect per poll) and map the file."""
    from custos import db

    engine = get_engine()
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's pool and pragmas")
    conns = [engine.connect() for _ in range(db.SQLITE_POOL_SIZE)]
    raw_ids = {id(c.connection.dbapi_connection) for c in conns}
    assert conns[0].exec_driver_sql("PRAGMA mmap_size").scalar() == db.SQLITE_MMAP_BYTES
    for conn in conns:
        conn.close()
    again = [engine.connect() for _ in range(db.SQLITE_POOL_SIZE)]
    try:  # the same DB-API connections come back: none was closed on return
        assert {id(c.connection.dbapi_connection) for c in again} == raw_ids
    finally:
        for conn in again:
            conn.close()
