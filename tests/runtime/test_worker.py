"""Scaling out: the healthcheck flow run by a real ``prefect worker`` of the ``custos`` pool.

The deployment comes from ``deployments/prefect.yaml`` (its healthcheck entry and
work pool); the worker is a separate process against the session's Prefect
server and writes to the session's database, as a worker on another machine
would with a shared PostgreSQL database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlmodel import col, select

from custos.db import session_scope
from custos.models import Job, Unit, UnitType
from custos.recorder import Recorder

pytestmark = [pytest.mark.server, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_healthcheck_runs_on_a_process_worker(prefect_server: str, tmp_path: Path) -> None:
    from prefect import Flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment
    from prefect.workers.process import ProcessWorker

    spec = next(
        d
        for d in yaml.safe_load((ROOT / "deployments/prefect.yaml").read_text())["deployments"]
        if d["entrypoint"].startswith("flows/healthcheck.py")
    )
    pool = spec["work_pool"]["name"]
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(
                name=pool,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
    flow = Flow.from_source(source=str(ROOT), entrypoint=spec["entrypoint"])
    # RunnerDeployment.apply, not flow.deploy: deploy's worker check trips a
    # Prefect 3.8.8 / FastAPI incompatibility (422 on workers/filter)
    deployment = flow.to_deployment(  # type: ignore[union-attr]
        name=spec["name"], work_pool_name=pool
    )
    deployment.apply(work_pool_name=pool)  # type: ignore[union-attr]

    env = dict(
        os.environ,
        PREFECT_API_URL=prefect_server,
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_WORKER_PREFETCH_SECONDS="1",
    )
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--limit",
            "1",
        ],
        env=env,
        cwd=ROOT,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with session_scope() as s:
            unit = Unit(unit_type=UnitType.HEALTHCHECK, name="worker healthcheck")
            s.add(unit)
            s.flush()
            unit_uuid = unit.uuid
        run = run_deployment(
            f"healthcheck/{spec['name']}", parameters={"unit_uuid": unit_uuid}, timeout=0
        )
        deadline = time.monotonic() + 120
        info = None
        while time.monotonic() < deadline:
            info = Recorder().status_info(unit_uuid)
            if info is not None and info.status.value == "COMPLETE":
                break
            assert worker.poll() is None, log.read_text()
            time.sleep(1)
        assert info is not None and info.status.value == "COMPLETE", log.read_text()
        with session_scope() as s:
            check = s.exec(
                select(Job).where(
                    col(Job.unit_uuid) == unit_uuid, col(Job.name) == "Check the runtime"
                )
            ).one()
            assert check.output is not None and str(run.id) in check.output  # type: ignore[union-attr]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
