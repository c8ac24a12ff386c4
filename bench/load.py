"""Load: many transfers through the Archivematica API to a running ``custos serve``.

Starts ``custos serve`` on a fresh temporary home (SQLite, free ports), packages
``--transfers`` folders of ``--files`` small files each through
``POST /api/v2beta/package`` (automated configuration: straight to a stored AIP),
and meanwhile polls every unit's status as Archivematica clients do
(``transfer/status`` until the SIP exists, then ``ingest/status``), from
``--pollers`` concurrent clients. Prints one JSON line: transfers per minute,
seconds from submission to stored AIP (p50, p95), the status polls' latency (p50,
p99, ms) during the load, and the units that failed or are missing (no stored AIP
at the end). Exit status 1 when any failed or is missing.

With ``--postgres URL`` the same load goes to the two-worker set-up of
``docs/scale-out.md`` on one machine instead: Custos and a Prefect server on
PostgreSQL (two new databases on that server, dropped at the end), the API host
(``custos serve --no-runner``) and two ``custos worker`` processes on the ``custos``
work pool, ``CUSTOS_FLOW_RUN_LIMIT=2`` each.

Usage: ``python bench/load.py [--transfers 50] [--files 100] [--pollers 4]
[--timeout 3600] [--postgres URL]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DONE = {"COMPLETE", "FAILED", "REJECTED", "USER_INPUT"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_serve(
    home: Path, env: dict[str, str], extra: tuple[str, ...] | list[str] = ()
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """``custos serve --json`` on ``home``; returns the process and its ready document."""
    log = open(home / "serve.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--json", *extra],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    assert proc.stdout is not None
    text = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"custos serve exited {proc.returncode}; see {home / 'serve.log'}")
        chunk = os.read(proc.stdout.fileno(), 65536).decode()
        text += chunk
        try:
            return proc, json.loads(text)
        except ValueError:
            continue
    raise SystemExit("custos serve was not ready within 300 s")


def make_sources(source_root: Path, transfers: int, files: int) -> list[str]:
    """``transfers`` folders of ``files`` small text files; their names."""
    names = []
    for t in range(transfers):
        folder = source_root / f"load-{t:03}"
        folder.mkdir(parents=True)
        for f in range(files):
            (folder / f"file-{f:03}.txt").write_text(f"transfer {t} file {f}\n" * 8)
        names.append(folder.name)
    return names


async def run_load(
    api: str, auth: dict[str, str], location: str, names: list[str], pollers: int, timeout: float
) -> dict[str, Any]:
    """Submit every transfer, poll them all until done; the measurements."""
    submitted: dict[str, float] = {}
    stored_at: dict[str, float] = {}
    outcome: dict[str, str] = {}
    sips: dict[str, str] = {}
    polls: list[float] = []
    submits: list[float] = []
    async with httpx.AsyncClient(base_url=api, headers=auth, timeout=60) as client:
        started = time.monotonic()
        for name in names:
            body = {
                "name": name,
                "path": base64.b64encode(f"{location}:{name}".encode()).decode(),
                "type": "standard",
                "processing_config": "automated",
            }
            t0 = time.perf_counter()
            res = await client.post("/api/v2beta/package/", json=body)
            submits.append((time.perf_counter() - t0) * 1000)
            res.raise_for_status()
            submitted[res.json()["id"]] = time.monotonic()
        queue = list(submitted)

        async def poller(index: int) -> None:
            while time.monotonic() - started < timeout:
                mine = [u for i, u in enumerate(queue) if i % pollers == index and u not in outcome]
                if not mine:
                    return
                for unit in mine:
                    sip = sips.get(unit)
                    path = f"/api/ingest/status/{sip}/" if sip else f"/api/transfer/status/{unit}/"
                    t0 = time.perf_counter()
                    res = await client.get(path)
                    polls.append((time.perf_counter() - t0) * 1000)
                    if res.status_code != 200:
                        continue
                    status = res.json()
                    if sip is None:
                        if status.get("status") in ("FAILED", "REJECTED", "USER_INPUT"):
                            outcome[unit] = f"transfer {status['status']}"
                        elif status.get("sip_uuid") and status["sip_uuid"] != "BACKLOG":
                            sips[unit] = status["sip_uuid"]
                    elif status.get("status") in DONE:
                        outcome[unit] = status["status"]
                        stored_at[unit] = time.monotonic()
                await asyncio.sleep(0.5)

        await asyncio.gather(*(poller(i) for i in range(pollers)))
        elapsed = time.monotonic() - started
    durations = [stored_at[u] - submitted[u] for u in stored_at if outcome[u] == "COMPLETE"]
    return {
        "elapsed_s": round(elapsed, 1),
        "durations": durations,
        "polls": polls,
        "submits": submits,
        "outcome": outcome,
        "sips": sips,
        "submitted": list(submitted),
    }


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after a minute."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, env=env, cwd=log.parent, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def start_cluster(
    home: Path, env: dict[str, str], postgres: str, procs: list[subprocess.Popen[bytes]]
) -> tuple[dict[str, Any], list[str]]:
    """The two-worker set-up of docs/scale-out.md on one machine: a Prefect server on
    PostgreSQL, ``custos deploy``, the API host (``custos serve --no-runner``) and two
    ``custos worker`` processes with their own names and Prefect homes. Returns the
    serve's ready document and the databases to drop."""
    import sqlalchemy as sa

    tag = f"custos_load_{os.urandom(4).hex()}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{tag}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{tag}_prefect"'))
    admin.dispose()
    url = sa.make_url(postgres)
    custos_db = url.set(database=tag).render_as_string(hide_password=False)
    prefect_db = url.set(
        drivername="postgresql+asyncpg", database=f"{tag}_prefect", query={}
    ).render_as_string(hide_password=False)
    prefect_api = f"http://127.0.0.1:{free_port()}/api"
    env.update(
        {
            "CUSTOS_DATABASE_URL": custos_db,
            "CUSTOS_DISPATCH": "prefect",
            "CUSTOS_PROJECT_DIR": str(ROOT),
            "CUSTOS_FLOW_RUN_LIMIT": "2",  # per worker: two machines of one core each
            "CUSTOS_RECONCILE_INTERVAL": "30",
            "PREFECT_API_URL": prefect_api,
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_UI_ENABLED": "false",
        }
    )
    os.environ["CUSTOS_DATABASE_URL"] = custos_db

    def own(name: str) -> dict[str, str]:
        (home / name).mkdir(exist_ok=True)
        return {**env, "PREFECT_HOME": str(home / name / "prefect")}

    port = prefect_api.rsplit(":", 1)[1].split("/")[0]
    procs.append(
        spawn(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", port],
            {**own("prefect-server"), "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db},
            home / "prefect-server.log",
        )
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{prefect_api}/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the Prefect server did not start; see {home}/prefect-server.log")
        time.sleep(1)
    subprocess.run([sys.executable, "-m", "cli", "init"], env=own("admin"), check=True,
                   cwd=home, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "cli", "deploy"], env=own("admin"), check=True,
                   cwd=home, capture_output=True)  # fmt: skip
    serve, info = start_serve(
        home, {**own("api-host"), "CUSTOS_PORT": str(free_port())}, ["--no-runner"]
    )
    procs.append(serve)
    for name in ("machine-a", "machine-b"):
        procs.append(
            spawn([sys.executable, "-m", "cli", "worker", "--name", name], own(name),
                  home / f"{name}.log")
        )  # fmt: skip
    return info, [tag, f"{tag}_prefect"]


def drop_databases(postgres: str, names: list[str]) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.begin() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=50)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="the two-worker set-up on this PostgreSQL server (a database for Custos and "
        "one for Prefect are created there and dropped at the end), e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="custos-load-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CUSTOS_"))}
    env.update(
        {
            "CUSTOS_HOME": str(home / "home"),
            "CUSTOS_PORT": str(free_port()),
            "CUSTOS_PREFECT_PORT": str(free_port()),
            "CUSTOS_PREFECT_UI": "false",
            "PYTHONPATH": str(ROOT),
        }
    )
    os.environ.update({"CUSTOS_HOME": env["CUSTOS_HOME"]})
    procs: list[subprocess.Popen[bytes]] = []
    databases: list[str] = []
    keep = True  # the home and its logs stay when the bench fails
    try:
        if args.postgres:
            info, databases = start_cluster(home, env, args.postgres, procs)
        else:
            subprocess.run([sys.executable, "-m", "cli", "init"], env=env, check=True,
                           cwd=home, capture_output=True)  # fmt: skip
        from custos.models import PackageStatus
        from custos.storage import LocationPurpose, default_location

        source = default_location(LocationPurpose.TRANSFER_SOURCE)
        names = make_sources(Path(source.path), args.transfers, args.files)
        if not args.postgres:
            proc, info = start_serve(home, env)
            procs.append(proc)
        auth = {"Authorization": f"ApiKey admin:{info['admin_key']}"}
        run = asyncio.run(
            run_load(info["api_url"], auth, source.uuid, names, args.pollers, args.timeout)
        )
        from custos.db import get_engine, session_scope
        from custos.models import Package

        with session_scope(get_engine()) as s:
            stored = {
                unit
                for unit, sip in run["sips"].items()
                if (pkg := s.get(Package, sip)) is not None and pkg.status == PackageStatus.STORED
            }
        failed = sorted(u for u, o in run["outcome"].items() if o != "COMPLETE")
        missing = sorted(set(run["submitted"]) - stored - set(failed))
        durations, polls = run["durations"], run["polls"]
        p50, p95 = percentile(durations, 0.5), percentile(durations, 0.95)
        poll50, poll99 = percentile(polls, 0.5), percentile(polls, 0.99)
        result = {
            "bench": "load",
            "set_up": "two workers, PostgreSQL" if args.postgres else "custos serve, SQLite",
            "transfers": args.transfers,
            "files_per_transfer": args.files,
            "pollers": args.pollers,
            "elapsed_s": run["elapsed_s"],
            "transfers_per_minute": round(len(stored) / run["elapsed_s"] * 60, 2),
            "submit_to_aip_p50_s": round(p50, 1) if p50 is not None else None,
            "submit_to_aip_p95_s": round(p95, 1) if p95 is not None else None,
            "submit_p50_ms": round(percentile(run["submits"], 0.5) or 0, 1),
            "submit_max_ms": round(max(run["submits"], default=0), 1),
            "status_polls": len(polls),
            "status_poll_p50_ms": round(poll50, 1) if poll50 is not None else None,
            "status_poll_p99_ms": round(poll99, 1) if poll99 is not None else None,
            "stored_aips": len(stored),
            "failed": failed,
            "missing": missing,
            "mean_submit_to_aip_s": round(statistics.mean(durations), 1) if durations else None,
        }
        print(json.dumps(result))
        if failed or missing:
            raise SystemExit(1)
        keep = False
    finally:
        for proc in reversed(procs):
            stop(proc)
        if databases:
            from custos.db import get_engine

            get_engine().dispose()
            drop_databases(args.postgres, databases)
        if keep:
            print(f"load: the home and logs are kept in {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
