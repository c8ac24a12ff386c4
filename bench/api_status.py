"""Load test of Archivematica's polling endpoints on a SQLite home.

Fills a temporary home with 10,000 units (half transfers, half SIPs) of 30 jobs
each (one task per job), starts the API as ``custos serve`` does (uvicorn, ``--workers``
worker processes), and runs ``--clients`` concurrent clients (httpx, one client and connection
each, or with ``--client raw`` a minimal keep-alive HTTP/1.1 client; asyncio loops
in ``--client-procs`` processes, so the load generator shares the machine with the
server) for
``--seconds`` per endpoint against ``transfer/status``, ``v2beta/jobs`` and
``transfer/completed``. Prints one JSON line with requests/s, p50/p99 latency
(ms), the mean number of requests in flight (Little's law: rps x mean latency)
and the CPU seconds used by the server and by the load generator per endpoint.

Usage: ``python bench/api_status.py [--units 10000] [--seconds 30] [--clients 50]
[--workers 2] [--client httpx|raw] [--client-procs 2] [--endpoints status,jobs,completed]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

#: (latencies in ms, error counts by kind, seconds elapsed) of one load generator
Sample = tuple[list[float], dict[str, int], float]

JOBS_PER_UNIT = 30
GROUPS = [
    "Verify transfer compliance",
    "Assign file UUIDs and checksums",
    "Scan for viruses",
    "Identify file format",
    "Characterize and extract metadata",
    "Normalize",
    "Generate AIP METS",
    "Prepare AIP",
    "Store AIP",
]


def fill(units: int) -> tuple[list[str], list[str], str]:
    """Insert the units, jobs and tasks; returns (transfer uuids, SIP uuids, auth header)."""
    from sqlalchemy import insert

    from custos.accounts import create_api_key, create_user
    from custos.db import get_engine, migrate
    from custos.models import Job, Task, Unit, new_uuid

    engine = get_engine()
    migrate(engine)
    base = datetime.now(UTC) - timedelta(days=1)
    transfers: list[str] = []
    sips: list[str] = []
    unit_rows: list[dict[str, Any]] = []
    job_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for i in range(units):
        uuid = new_uuid()
        is_sip = i % 2 == 1
        done = i % 10 == 0
        (sips if is_sip else transfers).append(uuid)
        unit_rows.append(
            {
                "uuid": uuid,
                "unit_type": "SIP" if is_sip else "transfer",
                "name": f"unit{i}",
                "transfer_type": "standard",
                "status": "COMPLETE" if done else "PROCESSING",
                "current_path": f"/var/processing/unit{i}-{uuid}",
                "processing_config": "automated",
                "auto_approve": True,
                "hidden": False,
                "variables": {},
                "sip_uuid": None,
                "created_at": base,
                "updated_at": base,
            }
        )
        for seq in range(1, JOBS_PER_UNIT + 1):
            job_uuid = new_uuid()
            name = (
                "Remove the processing directory"
                if done and seq == JOBS_PER_UNIT
                else f"Job step {seq}"
            )
            at = base + timedelta(seconds=seq)
            job_rows.append(
                {
                    "uuid": job_uuid,
                    "unit_uuid": uuid,
                    "unit_type": "SIP" if is_sip else "transfer",
                    "microservice": GROUPS[seq % len(GROUPS)],
                    "name": name,
                    "link_uuid": None,
                    "status": "COMPLETE",
                    "seq": seq,
                    "created_at": at,
                    "started_at": at,
                    "ended_at": at,
                }
            )
            task_rows.append(
                {
                    "uuid": new_uuid(),
                    "job_uuid": job_uuid,
                    "file_uuid": None,
                    "file_name": "",
                    "exit_code": 0,
                    "arguments": "",
                    "stdout": "",
                    "stderr": "",
                    "created_at": at,
                    "started_at": at,
                    "ended_at": at,
                }
            )
    with engine.begin() as conn:
        conn.execute(insert(Unit), unit_rows)
        for i in range(0, len(job_rows), 20000):
            conn.execute(insert(Job), job_rows[i : i + 20000])
            conn.execute(insert(Task), task_rows[i : i + 20000])
    user = create_user("bench")
    assert user.id is not None
    return transfers, sips, f"ApiKey bench:{create_api_key(user.id)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def hammer(base: str, auth: str, paths: list[str], clients: int, seconds: float) -> Sample:
    """``clients`` clients (one ``httpx.AsyncClient`` and connection each) requesting
    random ``paths`` for ``seconds``.

    One client per simulated user, as 50 polling scripts would be: a single shared
    ``AsyncClient`` with a 50-connection pool spends most of its CPU time in the
    pool's bookkeeping, which measures httpcore rather than the server.
    """
    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    built: dict[str, httpx.Request] = {}  # GET requests are reusable: build each once

    async def loop() -> None:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": auth}, limits=limits, timeout=30
        ) as client:
            while time.monotonic() < stop:
                path = random.choice(paths)
                request = built.get(path)
                if request is None:
                    request = built[path] = client.build_request("GET", path)
                t0 = time.perf_counter()
                try:
                    res = await client.send(request)
                except httpx.TransportError as exc:
                    _count(errors, type(exc).__name__)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if res.status_code != 200:
                    _count(errors, f"HTTP {res.status_code}")

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies, errors, time.monotonic() - started


def generate(
    kind: str, port: int, auth: str, paths: list[str], clients: int, seconds: float
) -> Sample:
    """One load-generator process: ``clients`` clients of ``kind`` (httpx or raw).

    The generator's own garbage-collection pauses would show up as server latency:
    its start-up objects are frozen and young collections made rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    if kind == "raw":
        return run(hammer_raw("127.0.0.1", port, auth, paths, clients, seconds))
    return run(hammer(f"http://127.0.0.1:{port}", auth, paths, clients, seconds))


def load(
    kind: str, procs: int, port: int, auth: str, paths: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    """Run the clients in ``procs`` processes; merged figures plus their CPU seconds."""
    if procs <= 1:
        own0 = time.process_time()
        latencies, errors, elapsed = generate(kind, port, auth, paths, clients, seconds)
        result = _summary(latencies, errors, elapsed)
        result["client_cpu_s"] = round(time.process_time() - own0, 1)
        return result
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    with ProcessPoolExecutor(procs) as pool:
        pool.submit(time.sleep, 0).result()  # start the workers before timing
        pids = list(pool._processes)  # to read their CPU time
        cpu0 = cpu_seconds(pids)
        futures = [pool.submit(generate, kind, port, auth, paths, n, seconds) for n in shares if n]
        samples = [f.result() for f in futures]
        cpu = cpu_seconds(pids) - cpu0
    merged: list[float] = []
    errors: dict[str, int] = {}
    for latencies, errs, _elapsed in samples:
        merged.extend(latencies)
        for key, count in errs.items():
            errors[key] = errors.get(key, 0) + count
    result = _summary(merged, errors, max(s[2] for s in samples))
    result["client_cpu_s"] = round(cpu, 1)
    return result


def _count(errors: dict[str, int], kind: str) -> None:
    errors[kind] = errors.get(kind, 0) + 1


def _summary(latencies: list[float], errors: dict[str, int], elapsed: float) -> dict[str, Any]:
    """Requests/s, latency percentiles and Little's-law concurrency of one run."""
    latencies.sort()
    rps = len(latencies) / elapsed
    return {
        "requests": len(latencies),
        "rps": round(rps, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "in_flight": round(rps * statistics.fmean(latencies) / 1000, 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


async def hammer_raw(
    host: str, port: int, auth: str, paths: list[str], clients: int, seconds: float
) -> Sample:
    """Like ``hammer`` with a minimal keep-alive HTTP/1.1 client (asyncio streams).

    httpx spends several ms of CPU per request, so on a small machine the load
    generator, not the server, sets the pace; this client costs a fraction of that.
    """
    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop = time.monotonic() + seconds
    head = f"Host: {host}:{port}\r\nAuthorization: {auth}\r\n\r\n"

    async def loop() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.monotonic() < stop:
                request = f"GET {random.choice(paths)} HTTP/1.1\r\n{head}".encode()
                t0 = time.perf_counter()
                try:
                    writer.write(request)
                    status, length = _response_head(await reader.readuntil(b"\r\n\r\n"))
                    await reader.readexactly(length)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    _count(errors, type(exc).__name__)
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    _count(errors, f"HTTP {status}")
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies, errors, time.monotonic() - started


def _response_head(raw: bytes) -> tuple[int, int]:
    """(status code, Content-Length) of a response head; ValueError if unusable."""
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value)
    raise ValueError("response without Content-Length")


def run(coro: Any) -> Any:
    """Run the load generator's coroutine on uvloop (as the server) when installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (Linux ``/proc``; else 0)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_pids(pid: int) -> list[int]:
    """The server process and its direct children (uvicorn's worker processes)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return pids + [int(c) for c in children]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="uvicorn worker processes (custos serve's default: 2)",
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="load generator: httpx.AsyncClient (as before) or a minimal "
        "keep-alive HTTP/1.1 client costing far less CPU per request",
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="load-generator processes sharing the clients (httpx needs "
        "more than one core to keep 50 clients busy)",
    )
    parser.add_argument(
        "--endpoints",
        default="status,jobs,completed",
        help="comma-separated subset of status,jobs,completed",
    )
    args = parser.parse_args()
    wanted = set(args.endpoints.split(","))
    home = Path(tempfile.mkdtemp(prefix="custos-bench-api-"))
    os.environ.update({"CUSTOS_HOME": str(home), "CUSTOS_DISPATCH": "inline"})
    os.environ.pop("CUSTOS_DATABASE_URL", None)
    t0 = time.monotonic()
    transfers, sips, auth = fill(args.units)
    fill_s = time.monotonic() - t0
    port = free_port()
    # the API child of ``custos serve`` (uvicorn, ``--workers`` processes)
    server = subprocess.Popen(
        [sys.executable, "-m", "custos.runtime.serve", "127.0.0.1", str(port), str(args.workers)],
        env=os.environ.copy(),
        stderr=subprocess.DEVNULL,
    )
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
        time.sleep(2)  # let every worker finish starting
        results: dict[str, Any] = {}
        for label, paths in (
            ("status", [f"/api/transfer/status/{u}" for u in transfers]),
            ("jobs", [f"/api/v2beta/jobs/{u}" for u in sips]),
            ("completed", ["/api/transfer/completed"]),
        ):
            if label not in wanted:
                continue
            pids = server_pids(server.pid)
            srv0 = cpu_seconds(pids)
            results[label] = load(
                args.client, args.client_procs, port, auth, paths, args.clients, args.seconds
            )
            results[label]["server_cpu_s"] = round(cpu_seconds(pids) - srv0, 1)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(home, ignore_errors=True)  # ~185 MB per run
    print(
        json.dumps(
            {
                "bench": "api_status",
                "database": "sqlite",
                "units": args.units,
                "jobs_per_unit": JOBS_PER_UNIT,
                "clients": args.clients,
                "workers": args.workers,
                "client": args.client,
                "client_procs": args.client_procs,
                "load_avg_1m": round(os.getloadavg()[0], 1),
                "seconds": args.seconds,
                "fill_s": round(fill_s, 1),
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
