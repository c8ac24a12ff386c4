"""Watched folders and the ``custos transfer`` command."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from sqlmodel import col, select
from typer.testing import CliRunner

from custos.db import session_scope
from custos.models import LocationPurpose, Unit, UnitLock
from custos.storage import default_location
from flows.watch import scan_watched

from .conftest import make_sample


def test_watched_item_starts_once_even_with_overlapping_runs(custos_home, dispatched, tmp_path):
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    watched = Path(loc.path) / "watched"
    make_sample(watched / "dropped")
    assert scan_watched(now=time.time()).waiting == ["dropped"]  # still settling
    later = time.time() + 3600
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(scan_watched(now=later))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [u for r in results for u in r.started]
    assert len(started) == 1
    assert scan_watched(now=later).started == []
    with session_scope() as s:
        unit = s.get(Unit, started[0])
        assert unit is not None and unit.name == "dropped"
    assert [f for f, _ in dispatched.submitted].count("transfer") == 1

    (watched / "broken.zip").write_bytes(b"not a zip")  # zipfile type expected: refused
    (watched / "dropped").rename(watched / ".done-dropped")
    res = scan_watched(now=later)
    assert res.failed == ["broken.zip"] and (watched / ".broken.zip.failed").is_file()
    assert scan_watched(now=later).failed == []  # reported once, not retried
    with session_scope() as s:
        notes = s.exec(select(col(UnitLock.note))).all()
    assert any(n and n.startswith("failed:") for n in notes)


def test_cli_start_approve_decisions_decide(custos_home, dispatched, tmp_path):
    from cli.transfer import app

    runner = CliRunner()
    src = make_sample(tmp_path / "cli")
    res = runner.invoke(app, ["start", str(src), "--config", "nope", "--json"])
    assert res.exit_code == 1 and "nope" in res.stdout
    res = runner.invoke(app, ["start", str(src), "--config", "automated", "--json"])
    assert res.exit_code == 0, res.output
    uuid = json.loads(res.stdout)["transfer"]["uuid"]
    assert ("transfer", {"unit_uuid": uuid}) in dispatched.submitted

    from custos.transfers import start_transfer

    waiting = start_transfer("w", src, auto_approve=False)
    res = runner.invoke(app, ["decisions", "--json"])
    rows = [r for r in json.loads(res.stdout) if r["unit_uuid"] == waiting]
    assert rows and rows[0]["decision"] == "Approve standard transfer"
    res = runner.invoke(app, ["decide", rows[0]["job_uuid"], "Approve transfer"])
    assert res.exit_code == 0, res.output
    assert ("transfer", {"unit_uuid": waiting}) in dispatched.submitted
    res = runner.invoke(app, ["approve", waiting])
    assert res.exit_code == 1  # no longer waiting


def test_cli_wait_json_runs_inline(custos_home, tmp_path, prefect_server):
    from cli.transfer import app
    from custos import dispatch

    src = make_sample(tmp_path / "wait")
    try:
        res = CliRunner().invoke(
            app,
            ["start", str(src), "--config", "automated", "--name", "waited", "--wait", "--json"],
        )
    finally:
        dispatch.set_backend(None)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["transfer"]["status"] == "COMPLETE" and data["transfer"]["sip_uuid"]
    assert data["transfer"]["name"] == "waited"
