"""Scaled out on a Prefect work pool, as docs/scale-out.md tells an operator to do it.

On PostgreSQL (``CUSTOS_TEST_DATABASE_URL``; a schema of its own, and a database of
its own for the Prefect server): a Prefect server,
the ``custos`` work pool with the deployments of ``deployments/prefect.yaml``
(``custos deploy``), the
API host (``custos serve --no-runner``) and two ``custos worker`` processes standing
for two machines (their own names, scratch folders and Prefect homes; the Custos
home is the shared storage). Twelve transfers are packaged through the
Archivematica API; both workers run flows and every transfer becomes a stored AIP
that passes a fixity audit. Then the worker running a thirteenth transfer is killed
with SIGKILL, with its flow run, as a machine that loses power; the reconciler
(the scheduled ``reconcile`` deployment) sees the run's heartbeats stop and
resubmits it, and the other worker finishes that transfer.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col
from sqlmodel import select as sql_select

from custos.db import make_engine, session_scope
from custos.models import Location, LocationPurpose, Package, PackageStatus, Unit
from custos.runtime.preflight import free_port

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parents[2]
TRANSFERS = 12
SUBMITTED = re.compile(r"Worker '([\w-]+)' submitting flow run '([0-9a-f-]{36})'")
http = httpx.Client(timeout=60)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Proc:
    """A subprocess of the test with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the process and everything below it, at once."""
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            below = descendants(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
            for pid in [self.proc.pid, *below]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()


class Cluster:
    """The processes of the set-up and what the test needs to talk to them."""

    def __init__(self, base: Path, db_url: str) -> None:
        self.base = base
        self.db_url = db_url
        self.home = base / "shared-home"
        self.home.mkdir()
        self.procs: list[Proc] = []
        self.prefect_api = f"http://127.0.0.1:{free_port()}/api"
        self.api_port = free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.engine = make_engine(db_url)
        self.auth: dict[str, str] = {}

    def env(self, name: str, **extra: str) -> dict[str, str]:
        scratch = self.base / name
        (scratch / "tmp").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS")}
        env.update(
            {
                "CUSTOS_HOME": str(self.home),
                "CUSTOS_DATABASE_URL": self.db_url,
                "CUSTOS_DISPATCH": "prefect",
                "CUSTOS_PROJECT_DIR": str(ROOT),
                "CUSTOS_API_WORKERS": "1",
                "CUSTOS_FLOW_RUN_LIMIT": "2",
                # every flow run is a process that takes seconds to start on a busy
                # machine: a pass every 30 s (late ones dropped) leaves the slots to
                # the units' runs
                "CUSTOS_RECONCILE_INTERVAL": "30",
                "PREFECT_API_URL": self.prefect_api,
                "PREFECT_HOME": str(scratch / "prefect"),
                "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",  # Prefect's least
                "PREFECT_WORKER_QUERY_SECONDS": "2",  # a freed slot is used at once
                "PREFECT_LOGGING_LEVEL": "INFO",
                "PREFECT_UI_ENABLED": "false",
                "TMPDIR": str(scratch / "tmp"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env

    def start(self, name: str, argv: list[str], **extra: str) -> Proc:
        log = self.base / f"{name}.log"
        proc = subprocess.Popen(
            argv,
            env=self.env(name, **extra),
            cwd=self.base / name,
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started = Proc(name, proc, log)
        self.procs.append(started)
        return started

    def run(self, name: str, argv: list[str], cwd: Path | None = None) -> str:
        out = subprocess.run(
            argv,
            env=self.env(name),
            cwd=cwd or self.base,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, f"{argv}: {out.stdout}\n{out.stderr}"
        return out.stdout

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.engine.dispose()


def wait_for(what: str, fn: Any, timeout: float, procs: list[Proc] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs or []:
            if proc.proc.poll() is not None:
                pytest.fail(f"{proc.name} exited: {proc.text()[-3000:]}")
        value = fn()
        if value:
            return value
        time.sleep(1)
    logs = "\n".join(f"--- {p.name}\n{p.text()[-2000:]}" for p in procs or [])
    pytest.fail(f"timed out waiting for {what}\n{logs}")


def _json_line(proc: Proc, timeout: float = 180) -> dict[str, Any]:
    """The JSON document ``custos serve --json`` prints once ready (in its log)."""

    def parsed() -> dict[str, Any] | None:
        text = proc.text()
        start = text.find("{\n")
        if start < 0:
            return None
        try:
            info: dict[str, Any] = json.JSONDecoder().raw_decode(text[start:])[0]
            return info
        except ValueError:
            return None

    return wait_for("custos serve --no-runner", parsed, timeout, [proc])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def cluster(custos_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not custos_db.startswith("postgresql"):
        pytest.skip("scale-out runs on PostgreSQL: set CUSTOS_TEST_DATABASE_URL")
    schema = f"scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(custos_db, isolation_level="AUTOCOMMIT")
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{schema}_prefect"'))  # Prefect's own
    prefect_db = (
        sa.make_url(custos_db)
        .set(drivername="postgresql+asyncpg", database=f"{schema}_prefect", query={})
        .render_as_string(hide_password=False)
    )
    separator = "&" if "?" in custos_db else "?"
    c = Cluster(
        tmp_path_factory.mktemp("scale"), f"{custos_db}{separator}options=-csearch_path%3D{schema}"
    )
    py = sys.executable
    try:
        server = c.start(
            "prefect-server",
            [py, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
             c.prefect_api.rsplit(":", 1)[1].split("/")[0]],
            PREFECT_API_DATABASE_CONNECTION_URL=prefect_db,
        )  # fmt: skip

        def healthy() -> bool:
            try:
                return http.get(f"{c.prefect_api}/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the Prefect server", healthy, 120, [server])
        out = c.run("admin", [py, "-m", "cli", "deploy"])
        assert "work pool custos (created)" in out and "reconcile/custos" in out, out
        api = c.start("api-host", [py, "-m", "cli", "serve", "--no-runner", "--json",
                                   "--port", str(c.api_port)])  # fmt: skip
        info = _json_line(api)
        assert info["served"] == []  # no runner on the API host
        c.auth = {"Authorization": f"ApiKey admin:{info['admin_key']}"}
        for name in ("machine-a", "machine-b"):
            c.start(name, [py, "-m", "cli", "worker", "--name", name])
        yield c
    finally:
        c.stop()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{schema}_prefect" WITH (FORCE)'))
        admin.dispose()


def _source(c: Cluster, name: str, files: int) -> str:
    with session_scope(c.engine) as s:
        loc = s.exec(
            sql_select(Location).where(
                col(Location.purpose) == LocationPurpose.TRANSFER_SOURCE,
                col(Location.is_default).is_(True),
            )
        ).one()
        loc_uuid, loc_path = loc.uuid, Path(loc.path)
    folder = loc_path / name
    folder.mkdir(parents=True)
    for index in range(files):
        (folder / f"note-{index:03}.txt").write_text(f"{name} note {index}\n" * 20)
    return base64.b64encode(f"{loc_uuid}:{name}".encode()).decode()


def _package(c: Cluster, name: str, files: int = 3) -> str:
    body = {
        "name": name,
        "path": _source(c, name, files),
        "type": "standard",
        "processing_config": "automated",
    }
    res = http.post(f"{c.api}/api/v2beta/package/", json=body, headers=c.auth)
    assert res.status_code == 202, res.text
    return str(res.json()["id"])


def _stored(c: Cluster, transfer: str) -> str | None:
    """The SIP uuid once the transfer is a stored AIP; fails on a failed unit."""
    status = http.get(f"{c.api}/api/transfer/status/{transfer}/", headers=c.auth).json()
    assert status.get("status") not in ("FAILED", "REJECTED"), status
    sip = status.get("sip_uuid")
    if not sip or sip == "BACKLOG":
        return None
    ingest = http.get(f"{c.api}/api/ingest/status/{sip}/", headers=c.auth).json()
    assert ingest.get("status") not in ("FAILED", "REJECTED", "USER_INPUT"), ingest
    if ingest.get("status") != "COMPLETE":
        return None
    with session_scope(c.engine) as s:
        pkg = s.get(Package, sip)
        return str(sip) if pkg is not None and pkg.status == PackageStatus.STORED else None


def _submitted(proc: Proc) -> set[str]:
    """Flow runs this worker took (its own log lines)."""
    return {m[1] for m in SUBMITTED.findall(proc.text())}


def _workers(c: Cluster) -> dict[str, Proc]:
    return {p.name: p for p in c.procs if p.name.startswith("machine-")}


def test_two_workers_share_the_pool_and_survive_a_lost_machine(cluster: Cluster) -> None:
    from flows.audit import audit_package

    c = cluster
    workers = _workers(c)
    transfers = [_package(c, f"scale-{i:02}") for i in range(TRANSFERS)]
    sips: dict[str, str] = {}

    def all_stored() -> bool:
        for t in transfers:
            if t not in sips and (sip := _stored(c, t)):
                sips[t] = sip
        return len(sips) == TRANSFERS

    wait_for("12 stored AIPs", all_stored, 1200, list(workers.values()))
    for sip in sips.values():
        assert audit_package(sip, c.engine).outcome == "pass"
    took = {name: _submitted(proc) for name, proc in workers.items()}
    assert all(took.values()), f"a worker ran no flow: { {k: len(v) for k, v in took.items()} }"

    # a machine lost while it runs a transfer (or, on a fast machine, its ingest)
    doomed = _package(c, "scale-lost", files=600)

    def running_on() -> tuple[str, str, str] | None:
        with session_scope(c.engine) as s:
            unit = s.get(Unit, doomed)
            sip = s.get(Unit, unit.sip_uuid) if unit and unit.sip_uuid else None
            current = sip if sip is not None else unit
            run = current.flow_run_id if current else None
            uuid_ = current.uuid if current else ""
        if not run:
            return None
        state = http.get(f"{c.prefect_api}/flow_runs/{run}").json().get("state") or {}
        if state.get("type") != "RUNNING":
            return None
        for name, proc in workers.items():
            if run in _submitted(proc):
                return name, run, uuid_
        return None

    victim, lost_run, lost_unit = wait_for(
        "the transfer running", running_on, 300, list(workers.values())
    )
    time.sleep(1)  # inside a step
    workers[victim].kill()
    survivor = next(p for n, p in workers.items() if n != victim)
    sip = wait_for("the lost transfer's AIP", lambda: _stored(c, doomed), 900, [survivor])
    assert audit_package(sip, c.engine).outcome == "pass"
    with session_scope(c.engine) as s:
        unit = s.get(Unit, lost_unit)
        assert unit is not None and unit.flow_run_id != lost_run  # resubmitted
    state = http.get(f"{c.prefect_api}/flow_runs/{lost_run}").json()["state"]
    assert state["type"] == "CRASHED", state  # the reconciler told Prefect, too
    assert len(_submitted(survivor)) > len(took[survivor.name])

    # the API host's metrics see the same picture (a scrape is an admin call)
    admin_key = c.auth["Authorization"].split(":", 1)[1]
    text = http.get(f"{c.api}/metrics", headers={"X-API-Key": admin_key}).text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    stored_aips = ("custos_packages", (("status", "STORED"), ("type", "AIP")))
    assert samples.get(stored_aips) == TRANSFERS + 1, text[:2000]
    assert samples.get(("custos_prefect_up", ())) == 1.0
