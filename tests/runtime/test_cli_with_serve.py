"""The command line against a running ``custos serve``, as a user drives it.

Archivematica's sample ``ZippedDirectoryTransferWithProcessing.zip`` carries its own
empty ``processingMCP.xml``, so every decision is asked. Started with ``custos
transfer start`` and every decision answered with ``custos decide`` (the first
without ``--wait``, the others following with ``--wait``), it becomes a stored AIP:
the work runs in the serve's deployments (Prefect shows every run), no unit fails,
and the reconciler, running every 20 s, never takes an answered unit for lost.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from custos.runtime.preflight import free_port
from tests.support.service import ServeProcess

from .test_serve import _poll

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(1200)]

#: The choice taken at each decision (by label), else the first that rejects nothing.
PREFER = (
    "Do not upload DIP",
    "Do not normalize",
    "Skip examine contents",
    "Create single SIP and continue processing",
    "Store AIP",
    "Yes",
    "Continue",
)


def sample_zip(folder: Path) -> Path:
    """Like Archivematica's sample: one top folder, its own empty processingMCP.xml."""
    path = folder / "ZippedDirectoryTransferWithProcessing.zip"
    top = "ZippedDirectoryTransferWithProcessing/"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            top + "processingMCP.xml",
            "<processingMCP>\n  <preconfiguredChoices/>\n</processingMCP>\n",
        )
        zf.writestr(top + "objects/notes.txt", "hello preservation\n")
        zf.writestr(top + "objects/data.csv", "a,b\n1,2\n")
    return path


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    """A fresh home on a short path (clamd's socket lives in it, and a Unix socket
    path is limited to 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="srv-"))
    env = dict(os.environ)
    for name in ("CUSTOS_DATABASE_URL", "PREFECT_API_URL", "CUSTOS_DISPATCH"):
        env.pop(name, None)
    env.update(
        CUSTOS_HOME=str(folder / "home"),
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
        CUSTOS_RECONCILE_INTERVAL="20",
    )
    yield env
    shutil.rmtree(folder, ignore_errors=True)


def custos(env: dict[str, str], *args: str) -> tuple[Any, str]:
    """Run the real ``custos`` command; (its JSON output, its stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"custos {' '.join(args)}: {done.stderr}{done.stdout}"
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout), done.stderr


def pick(decision: dict[str, Any]) -> str:
    choices = decision["choices"]
    for label in PREFER:
        for choice in choices:
            if choice["label"] == label:
                return str(choice["id"])
    return next(str(c["id"]) for c in choices if "reject" not in c["label"].lower())


def test_every_decision_answered_from_the_cli_ends_as_an_aip(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(env["CUSTOS_HOME"])
    custos(env, "init")
    source = sample_zip(tmp_path)
    serve = ServeProcess(env, tmp_path / "serve.log")
    try:
        info = serve.ready()
        prefect_api = info["prefect_api_url"]

        started = time.monotonic()
        out, err = custos(env, "transfer", "start", str(source), "--type", "zipfile")
        transfer_uuid = out["transfer"]["uuid"]
        assert time.monotonic() - started < 60 and err == ""

        def waiting() -> list[dict[str, Any]]:
            rows, _ = custos(env, "decisions")
            return [d for d in rows if d["unit_type"] in ("transfer", "SIP")]

        first = _poll(waiting, 120, "the first decision")[0]
        assert first["unit_uuid"] == transfer_uuid
        custos(env, "decide", first["job_uuid"], pick(first))  # no --wait: served
        answered = [first["decision"]]
        pending = _poll(waiting, 120, "the next decision")
        result: dict[str, Any] = {}
        while pending:
            decision = pending[0]
            result, _ = custos(env, "decide", decision["job_uuid"], pick(decision), "--wait")
            answered.append(decision["decision"])
            assert len(answered) < 30, answered
            pending = result.get("decisions", [])
        assert result["ingest"]["status"] == "COMPLETE", result
        sip_uuid = result["ingest"]["uuid"]

        status, _ = custos(env, "status", transfer_uuid)
        assert status["status"] == "COMPLETE" and status["sip_uuid"] == sip_uuid
        status, _ = custos(env, "status", sip_uuid)
        assert status["transfer_uuid"] == transfer_uuid
        assert status["aip"]["status"] == "STORED" and status["decisions"] == []
        assert {"Assign UUIDs to directories?", "Create SIP(s)", "Normalize", "Store AIP"} <= set(
            answered
        )

        with sqlite3.connect(home / "custos.db") as db:
            units = db.execute(
                "select uuid, status, flow_run_id, variables from unit where uuid in (?, ?)",
                (transfer_uuid, sip_uuid),
            ).fetchall()
            by = {r[0] for r in db.execute("select answered_by from decision").fetchall()}
        assert {u[1] for u in units} == {"COMPLETE"}
        assert all("reconcile_attempts" not in json.loads(u[3] or "{}") for u in units)
        assert by == {"cli"}
        # the work ran in the serve's deployments: Prefect shows every run, completed
        runs = httpx.post(
            f"{prefect_api}/flow_runs/filter",
            timeout=60,
            json={"flow_runs": {"id": {"any_": [u[2] for u in units]}}},
        ).json()
        assert {r["state_type"] for r in runs} == {"COMPLETED"} and len(runs) == 2
        all_runs = httpx.post(
            f"{prefect_api}/flow_runs/filter",
            timeout=60,
            json={
                "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                "deployments": {"name": {"any_": ["custos"]}},
            },
        ).json()
        mine = [
            r for r in all_runs if r["parameters"].get("unit_uuid") in (transfer_uuid, sip_uuid)
        ]
        # the start, the ingest the transfer submitted, then one run per answer
        assert len(mine) == len(answered) + 2
        assert "lost its flow run" not in (home / "logs" / "runner.log").read_text()
    finally:
        serve.kill()
