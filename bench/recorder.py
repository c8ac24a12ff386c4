"""Benchmark: recording 10,000 task rows (and 10,000 events) for one job on SQLite.

Prints one JSON line. Target: well under a second for the task rows. Baseline:
the same rows inserted one commit per row (what the recorder avoids), on 1,000
rows and scaled up.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

N = 10_000


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="custos-bench-"))
    os.environ["CUSTOS_HOME"] = str(home)
    os.environ.pop("CUSTOS_DATABASE_URL", None)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from custos.db import get_engine, migrate, session_scope
    from custos.models import Task, Unit, UnitType
    from custos.recorder import Recorder

    migrate(get_engine())
    rec = Recorder()
    with session_scope() as s:
        unit = Unit(unit_type=UnitType.TRANSFER, name="bench")
        s.add(unit)
        s.flush()
        unit_uuid = unit.uuid

    t0 = time.perf_counter()
    with rec.job(
        unit_uuid, "Assign file UUIDs and checksums", "Assign checksums and file sizes to objects"
    ) as job:
        for i in range(N):
            job.task(file_name=f"objects/file-{i:05d}.txt", stdout="ok")
    tasks_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    with rec.job(unit_uuid, "Scan for viruses", "Scan for viruses in directories") as job:
        for _ in range(N):
            job.event(event_type="virus check", outcome="Pass")
    events_s = time.perf_counter() - t0

    job_uuid = rec.start_job(unit_uuid, "Baseline", "one commit per row")
    t0 = time.perf_counter()
    for i in range(1000):
        with session_scope() as s:
            s.add(Task(job_uuid=job_uuid, file_name=f"f{i}"))
    per_row_s = (time.perf_counter() - t0) * N / 1000

    print(
        json.dumps(
            {
                "workload": "recorder",
                "rows": N,
                "backend": "sqlite",
                "tasks_seconds": round(tasks_s, 3),
                "events_with_agents_seconds": round(events_s, 3),
                "tasks_per_second": round(N / tasks_s),
                "baseline_commit_per_row_seconds": round(per_row_s, 2),
                "target_tasks_seconds": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
