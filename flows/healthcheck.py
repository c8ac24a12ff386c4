"""The healthcheck flow: proves submit -> run -> record end to end.

``POST /custos/healthcheck`` creates a ``healthcheck`` unit and submits this
flow; the runner (or a work-pool worker) runs it and it records its jobs like
any microservice would, so the unit reaches ``COMPLETE`` in the database only if
the whole path works. ``hold_seconds`` (a unit variable) keeps the run busy for
a while, the first time only, so crash recovery can be tried on a live system:
kill the runner during the hold and the reconciler finishes the unit.
"""

from __future__ import annotations

import json
import platform
import socket
import time

from prefect import flow
from sqlmodel import col, select

from custos import __version__
from custos.db import get_engine, session_scope
from custos.errors import NotFound
from custos.models import Job, Unit
from custos.recorder import REMOVE_PROCESSING_DIR, Recorder

MICROSERVICE = "Healthcheck"
HOLD_JOB = "Hold the flow run"
CHECK_JOB = "Check the runtime"
CLEANUP_GROUP = "Clean up healthcheck"


def _run_context() -> dict[str, str | None]:
    from prefect.runtime import deployment, flow_run

    return {
        "flow_run_id": flow_run.id,
        "flow_run_name": flow_run.name,
        "deployment": deployment.name,
    }


@flow(name="healthcheck", log_prints=True)
def healthcheck(unit_uuid: str) -> str:
    """Record the runtime's jobs for ``unit_uuid`` and return its final status."""
    engine = get_engine()
    rec = Recorder(engine)
    with session_scope(engine) as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
        hold = float((unit.variables or {}).get("hold_seconds", 0) or 0)
        seen = set(s.exec(select(Job.name).where(col(Job.unit_uuid) == unit_uuid)).all())
    if hold > 0 and HOLD_JOB not in seen:  # a crashed attempt already held once
        with rec.job(unit_uuid, MICROSERVICE, HOLD_JOB) as job:
            print(f"holding {hold} s")
            time.sleep(hold)
            job.output = f"held {hold} s"
    if CHECK_JOB not in rec.completed_jobs(unit_uuid):
        with rec.job(unit_uuid, MICROSERVICE, CHECK_JOB) as job:
            job.output = json.dumps(
                {
                    **_run_context(),
                    "custos": __version__,
                    "python": platform.python_version(),
                    "host": socket.gethostname(),
                    "database": engine.url.get_backend_name(),
                }
            )
    rec.record_job(
        unit_uuid,
        CLEANUP_GROUP,
        REMOVE_PROCESSING_DIR,
        output="nothing to remove: a healthcheck has no files",
    )
    info = rec.status_info(unit_uuid)
    status = info.status.value if info else "UNKNOWN"
    print(f"healthcheck {unit_uuid}: {status}")
    return status
