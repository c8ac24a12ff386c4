"""Load test of Archivematica's polling endpoints on a SQLite home.

Fills a temporary home with 10,000 units (half transfers, half SIPs) of 30 jobs
each (one task per job), starts uvicorn in a subprocess, and runs 50 concurrent
httpx clients for ``--seconds`` per endpoint against ``transfer/status``,
``v2beta/jobs`` and ``transfer/completed``. Prints one JSON line with requests/s
and p50/p99 latency (ms) per endpoint.

Usage: ``python bench/api_status.py [--units 10000] [--seconds 30] [--clients 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

JOBS_PER_UNIT = 30
GROUPS = ["Verify transfer compliance", "Assign file UUIDs and checksums", "Scan for viruses",
          "Identify file format", "Characterize and extract metadata", "Normalize",
          "Generate AIP METS", "Prepare AIP", "Store AIP"]


def fill(units: int) -> tuple[list[str], list[str], str]:
    """Insert the units, jobs and tasks; returns (transfer uuids, SIP uuids, auth header)."""
    from sqlalchemy import insert

    from custos.accounts import create_api_key, create_user
    from custos.db import get_engine, migrate
    from custos.models import Job, Task, Unit, new_uuid

    engine = get_engine()
    migrate(engine)
    base = datetime.now(UTC) - timedelta(days=1)
    transfers, sips = [], []
    unit_rows, job_rows, task_rows = [], [], []
    for i in range(units):
        uuid = new_uuid()
        is_sip = i % 2 == 1
        done = i % 10 == 0
        (sips if is_sip else transfers).append(uuid)
        unit_rows.append({"uuid": uuid, "unit_type": "SIP" if is_sip else "transfer",
                          "name": f"unit{i}", "transfer_type": "standard",
                          "status": "COMPLETE" if done else "PROCESSING",
                          "current_path": f"/var/processing/unit{i}-{uuid}",
                          "processing_config": "automated", "auto_approve": True,
                          "hidden": False, "variables": {}, "sip_uuid": None,
                          "created_at": base, "updated_at": base})
        for seq in range(1, JOBS_PER_UNIT + 1):
            job_uuid = new_uuid()
            name = ("Remove the processing directory" if done and seq == JOBS_PER_UNIT
                    else f"Job step {seq}")
            at = base + timedelta(seconds=seq)
            job_rows.append({"uuid": job_uuid, "unit_uuid": uuid,
                             "unit_type": "SIP" if is_sip else "transfer",
                             "microservice": GROUPS[seq % len(GROUPS)], "name": name,
                             "link_uuid": None, "status": "COMPLETE", "seq": seq,
                             "created_at": at, "started_at": at, "ended_at": at})
            task_rows.append({"uuid": new_uuid(), "job_uuid": job_uuid, "file_uuid": None,
                              "file_name": "", "exit_code": 0, "arguments": "", "stdout": "",
                              "stderr": "", "created_at": at, "started_at": at,
                              "ended_at": at})
    with engine.begin() as conn:
        conn.execute(insert(Unit), unit_rows)
        for i in range(0, len(job_rows), 20000):
            conn.execute(insert(Job), job_rows[i:i + 20000])
            conn.execute(insert(Task), task_rows[i:i + 20000])
    user = create_user("bench")
    assert user.id is not None
    return transfers, sips, f"ApiKey bench:{create_api_key(user.id)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def hammer(base: str, auth: str, paths: list[str], clients: int,
                 seconds: float) -> dict[str, Any]:
    """``clients`` loops requesting random ``paths`` for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": auth},
                                 limits=limits, timeout=30) as client:
        async def loop() -> None:
            nonlocal errors
            while time.monotonic() < stop:
                path = random.choice(paths)
                t0 = time.perf_counter()
                try:
                    res = await client.get(path)
                except httpx.TransportError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if res.status_code != 200:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(clients)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {"requests": len(latencies), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="custos-bench-api-"))
    os.environ.update({"CUSTOS_HOME": str(home), "CUSTOS_DISPATCH": "inline"})
    os.environ.pop("CUSTOS_DATABASE_URL", None)
    t0 = time.monotonic()
    transfers, sips, auth = fill(args.units)
    fill_s = time.monotonic() - t0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/transfer/completed", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        results: dict[str, Any] = {}
        for label, paths in (
            ("status", [f"/api/transfer/status/{u}" for u in transfers]),
            ("jobs", [f"/api/v2beta/jobs/{u}" for u in sips]),
            ("completed", ["/api/transfer/completed"]),
        ):
            results[label] = asyncio.run(hammer(base, auth, paths, args.clients,
                                                args.seconds))
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps({"bench": "api_status", "database": "sqlite", "units": args.units,
                      "jobs_per_unit": JOBS_PER_UNIT, "clients": args.clients,
                      "seconds": args.seconds, "fill_s": round(fill_s, 1), **results}))


if __name__ == "__main__":
    main()
