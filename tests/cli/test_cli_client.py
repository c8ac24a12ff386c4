"""The command line without a running ``custos serve``: ``--wait`` runs the work in the
command itself (no Prefect server, no Prefect output), a command that needs a serve
says so in one line and records nothing, ``decide`` works, ``status`` shows a
transfer's SIP and a SIP's AIP."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).parents[2]


@pytest.fixture
def clean_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh home (a short path: clamd's socket lives in it); no Prefect or Custos
    variable from the test session."""
    home = Path(tempfile.mkdtemp(prefix="cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CUSTOS_"))}
    env.update(
        CUSTOS_HOME=str(home / "home"),
        PREFECT_HOME=str(tmp_path / "prefect"),  # where a temporary server would write
        CUSTOS_CLAMAV_DATABASE=os.environ["CUSTOS_CLAMAV_DATABASE"],
    )
    yield env
    shutil.rmtree(home, ignore_errors=True)


def custos(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def sample(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "letter.txt").write_text("Dear reader\n")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    return folder


def units(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "custos.db") as db:
        return db.execute("select uuid, status from unit").fetchall()


def test_wait_runs_here_without_any_prefect_and_status_shows_the_aip(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(clean_env["CUSTOS_HOME"])
    assert custos(clean_env, "init").returncode == 0
    src = sample(tmp_path / "letters")

    refused = custos(clean_env, "transfer", "start", str(src))
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "no custos serve is running" in refused.stderr and "--wait" in refused.stderr
    assert units(home) == []  # refused before anything was recorded

    started = time.monotonic()
    done = custos(
        clean_env, "transfer", "start", str(src), "--config", "automated", "--wait", "--json"
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --json: no progress, and not one line from Prefect
    result = json.loads(done.stdout)
    assert result["transfer"]["status"] == "COMPLETE" and result["ingest"]["status"] == "COMPLETE"
    assert not list((tmp_path / "prefect").rglob("*.db"))  # no temporary Prefect server
    assert elapsed < 300

    shown = custos(
        clean_env,
        "transfer",
        "start",
        str(src),
        "--config",
        "automated",
        "--name",
        "shown",
        "--wait",
    )
    assert shown.returncode == 0, shown.stderr
    assert "prefect" not in shown.stderr.lower() and "telemetry" not in shown.stderr.lower()
    assert "transfer: " in shown.stderr  # the progress bars, on stderr

    transfer = json.loads(custos(clean_env, "status", result["transfer"]["uuid"], "--json").stdout)
    sip_uuid = result["ingest"]["uuid"]
    assert transfer["sip_uuid"] == sip_uuid and transfer["decisions"] == []
    sip = json.loads(custos(clean_env, "status", sip_uuid, "--json").stdout)
    assert sip["transfer_uuid"] == result["transfer"]["uuid"]
    assert sip["aip"]["uuid"] == sip_uuid and sip["aip"]["status"] == "STORED"
    text = custos(clean_env, "status", sip_uuid).stdout
    assert f"AIP       {sip_uuid} (STORED" in text


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_decide_without_a_serve_refuses_or_runs_here(custos_home: Path, tmp_path: Path) -> None:
    from sqlmodel import col, select

    from custos.db import session_scope
    from custos.models import Decision

    src = sample(tmp_path / "asked")
    started = _invoke("transfer", "start", str(src), "--wait", "--json")  # config "default"
    assert started.exit_code == 0, started.output
    first = json.loads(started.stdout)
    assert first["transfer"]["status"] == "USER_INPUT"
    (asked,) = first["decisions"]
    yes = next(c["label"] for c in asked["choices"] if c["label"] == "Yes")

    refused = _invoke("decide", asked["job_uuid"], yes)
    assert refused.exit_code == 1 and "add --wait to resume the unit" in refused.stderr
    with session_scope() as s:
        row = s.exec(select(Decision).where(col(Decision.job_uuid) == asked["job_uuid"])).one()
        assert row.choice is None  # nothing recorded

    bad = _invoke("decide", asked["job_uuid"], "perhaps", "--wait")
    assert bad.exit_code == 1 and "is not a choice" in bad.stderr and "Yes" in bad.stderr

    answered = _invoke("decide", asked["job_uuid"], yes, "--wait", "--json")
    assert answered.exit_code == 0, answered.output
    after = json.loads(answered.stdout)
    assert after["transfer"]["uuid"] == first["transfer"]["uuid"]
    assert after["transfer"]["status"] == "USER_INPUT"  # at the next question
    assert after["decisions"][0]["job_uuid"] != asked["job_uuid"]
    again = _invoke("decide", asked["job_uuid"], yes, "--wait")
    assert again.exit_code == 1 and "already answered" in again.stderr
