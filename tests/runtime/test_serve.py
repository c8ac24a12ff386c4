"""``custos serve`` end to end, as an operator runs it (a subprocess on free ports).

One test walks the whole life: first start (admin key printed), a healthcheck
submitted through the native API, run by the runner, COMPLETE in the database and
present in Prefect; a second serve on the same home refused; the runner killed
mid-flow (serve stops and fails), serve started again, and the reconciler
finishing the lost unit; Ctrl-C stopping everything with no process left.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from custos.runtime.preflight import check_port_free
from tests.support.service import ServeProcess, serve_env

pytestmark = [pytest.mark.server, pytest.mark.slow]
http = httpx.Client(timeout=60)  # the first request of each kind imports a lot on 2 cores


def _poll(fn: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return serve_env(home, CUSTOS_RECONCILE_INTERVAL="5")


def test_serve_runs_flows_and_recovers_from_a_killed_runner(
    env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(env["CUSTOS_HOME"])
    log = tmp_path / "serve.log"
    serves = [ServeProcess(env, log)]
    try:
        info = serves[0].ready()
        api, prefect_api, key = info["api_url"], info["prefect_api_url"], info["admin_key"]
        assert key and "healthcheck" in info["served"] and "reconcile" in info["served"]
        auth = {"Authorization": f"Bearer {key}"}
        assert http.get(f"{api}/custos/health").json()["database"] == "ok"
        assert http.get(f"{api}/openapi.json").status_code == 200

        # the whole path: API -> Prefect -> runner -> flow -> database
        assert http.post(f"{api}/custos/healthcheck").status_code == 401
        started = http.post(f"{api}/custos/healthcheck", headers={"X-API-Key": key})
        assert started.status_code == 202, started.text
        unit_uuid, run_id = started.json()["uuid"], started.json()["flow_run_id"]

        def unit() -> dict[str, Any]:
            body: dict[str, Any] = http.get(f"{api}/custos/units/{unit_uuid}", headers=auth).json()
            return body

        _poll(lambda: unit()["status"] == "COMPLETE", 60, "the healthcheck to complete")
        check = next(j for j in unit()["jobs"] if j["name"] == "Check the runtime")
        assert json.loads(check["output"])["flow_run_id"] == run_id
        _poll(
            lambda: (
                http.get(f"{prefect_api}/flow_runs/{run_id}").json()["state_type"] == "COMPLETED"
            ),
            30,
            "Prefect to show the run completed",
        )

        # a second serve on the same home is refused, touching nothing
        second = subprocess.run(
            [sys.executable, "-m", "cli", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "another custos serve" in second.stderr and "Traceback" not in second.stderr

        # kill the runner (and its flow-run subprocess) in the middle of a flow
        held = http.post(
            f"{api}/custos/healthcheck", headers=auth, json={"hold_seconds": 120}
        ).json()
        unit_uuid, lost_run = held["uuid"], held["flow_run_id"]
        _poll(
            lambda: any(j["name"] == "Hold the flow run" for j in unit()["jobs"]),
            60,
            "the flow to start holding",
        )
        runner_pid = json.loads((home / "run" / "runner.json").read_text())["pid"]
        os.killpg(runner_pid, signal.SIGKILL)
        assert serves[0].proc.wait(30) == 1
        assert "runner exited" in log.read_text()
        for port in (env["CUSTOS_PORT"], env["CUSTOS_PREFECT_PORT"]):
            check_port_free("127.0.0.1", int(port), "test")
        with sqlite3.connect(home / "custos.db") as db:
            assert (
                db.execute("select status from unit where uuid=?", (unit_uuid,)).fetchone()[0]
                == "PROCESSING"
            )

        # start again: the reconciler resubmits the lost unit, which completes
        serves.append(ServeProcess(env, log))
        again = serves[1].ready()
        assert again["admin_key"] is None  # only on first start
        _poll(lambda: unit()["status"] == "COMPLETE", 90, "the lost unit to be finished")
        names = [j["name"] for j in unit()["jobs"]]
        assert names.count("Hold the flow run") == 1 and "Check the runtime" in names
        assert http.get(f"{prefect_api}/flow_runs/{lost_run}").json()["state_type"] == "CRASHED"

        # Prefect's scheduler fills the interval schedules (reconcile every 5 s here) and
        # the runner runs them: watched folders and fixity audits depend on it.
        def scheduled_reconciles_ran() -> bool:
            runs = http.post(
                f"{prefect_api}/flow_runs/filter",
                json={
                    "flow_runs": {
                        "state": {"type": {"any_": ["COMPLETED"]}},
                        "auto_scheduled": {"eq_": True},
                    }
                },
            ).json()
            return len(runs) >= 1

        _poll(scheduled_reconciles_ran, 60, "a scheduled reconcile run to complete")

        # Ctrl-C stops every child; nothing is left listening or running
        new_runner = json.loads((home / "run" / "runner.json").read_text())["pid"]
        serves[1].proc.send_signal(signal.SIGINT)
        assert serves[1].proc.wait(60) == 0
        assert not _pid_alive(new_runner)
        for port in (env["CUSTOS_PORT"], env["CUSTOS_PREFECT_PORT"]):
            check_port_free("127.0.0.1", int(port), "test")
    finally:
        for serve in serves:
            serve.kill()
