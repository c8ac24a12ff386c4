"""Custos beside a3m on the same samples, in the same run, through the paths users take.

Runs a3m 0.8.1 (Lightweight Archivematica) and Custos on the samples of the
performance issue and prints one JSON line per workload with Custos' figure,
a3m's figure and their ratio (medians of ``--runs`` runs, each run listed):

- ``B`` (2,000 text files of 4 KiB): a3m "lean" against Custos through the CLI
  (``custos transfer start --config <7z copy> --wait --json`` with a
  ``custos serve`` running) and through the Archivematica API
  (``POST /api/v2beta/package`` to that serve, then its status polled until the
  AIP is stored); a3m's compression (7z copy) for both. Target: 10x faster.
- ``C`` (one 500 MiB file): a3m "lean" against the CLI, 7z copy for both, and
  the CLI with the ``automated`` configuration (7z bzip2).
- ``A`` (200 mixed files): a3m "default" (normalization on) against the CLI,
  ``automated`` with 7z copy (normalization on).
- ``B10k`` (10,000 files of 4 KiB, generated here): the CLI alone (target: under
  25 s); no a3m figure.
- ``latency``: ``--latency-transfers`` one-file transfers through the API, one
  after the other, seconds from submission to stored AIP, p50 and p95 (target
  3 s and 5 s).

Every Custos line also gives the CPU seconds (user+sys) the serve's whole process
tree spent on the workload, the largest single process' peak RSS (MiB; the
processes' high-water marks, sampled every 0.2 s) and the load averages. One
``custos serve`` runs on a fresh temporary home for the whole bench.

a3m and the samples come from the shared peers folder: ``--peers-dir`` (or
``PEERS_DIR``, default ``~/.cache/custos-peers``) must hold ``a3m-venv/bin/a3m``
and ``samples/{A,B,C}``, as the peers script ``a3m_side_by_side.sh`` installs
and generates them (``PEERS_DIR=<dir> bash a3m_side_by_side.sh 0`` does only
that). Without a3m the bench says so and stops, unless ``--no-a3m`` (Custos
figures only).

Usage: ``python bench/side_by_side.py [--runs 3] [--only B,C,A,B10k,latency]
[--latency-transfers 20] [--peers-dir DIR] [--no-a3m]``
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import free_port, percentile, start_serve  # noqa: E402

WORKLOADS = ("B", "C", "A", "B10k", "latency")
#: a3m's flags for its "lean" configuration (as the peers script runs it).
A3M_LEAN = (
    "-p",
    "normalize=no",
    "-p",
    "transcribe_files=no",
    "-p",
    "perform_policy_checks_on_originals=no",
    "-p",
    "perform_policy_checks_on_preservation_derivatives=no",
    "-p",
    "extract_packages=no",
)
COPY_CONFIG = "bench_7zcopy"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# -- the process tree: CPU seconds and the largest process' peak RSS ---------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    kids = _children()
    seen, stack = [], [root]
    while stack:
        pid = stack.pop()
        seen.append(pid)
        stack.extend(kids.get(pid, []))
    return seen


def cpu_seconds(root: int) -> float:
    """user+sys of the tree: its live processes plus the children they reaped."""
    total = 0
    for pid in tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def hwm_kib(pid: int) -> int:
    """A process' peak RSS so far (VmHWM), KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Watch:
    """Samples a process tree until stopped: the largest process' peak RSS."""

    roots: list[int]
    peak_kib: int = 0
    biggest: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watch:
        self.cpu0 = sum(cpu_seconds(r) for r in self.roots)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.2)

    def _sample(self) -> None:
        for root in self.roots:
            for pid in tree(root):
                kib = hwm_kib(pid)
                if kib > self.peak_kib:
                    self.peak_kib = kib
                    try:
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                        self.biggest = " ".join(c.decode() for c in cmd[:4])[:120]
                    except OSError:
                        pass

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.cpu_s = sum(cpu_seconds(r) for r in self.roots) - self.cpu0


# -- a3m -------------------------------------------------------------------------


def a3m_run(a3m: Path, sample: Path, lean: bool, name: str, scratch: Path) -> dict[str, Any]:
    """One a3m run in a fresh HOME: wall seconds, CPU seconds, largest process' RSS."""
    home = Path(tempfile.mkdtemp(prefix="a3m-home-", dir=scratch))
    env = dict(os.environ, HOME=str(home), PATH=f"{a3m.parent}:{os.environ['PATH']}")
    argv = [str(a3m), f"--name={name}", "--no-input", *(A3M_LEAN if lean else ()), sample.as_uri()]
    started = time.monotonic()
    with open(home / "a3m.out", "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        with Watch([proc.pid]) as watch:
            _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    tail = (home / "a3m.out").read_text(errors="replace").strip().splitlines()[-1:]
    shutil.rmtree(home, ignore_errors=True)
    return {
        "wall_s": round(wall, 2),
        "rc": proc.returncode,
        "cpu_s": round(usage.ru_utime + usage.ru_stime + watch.cpu_s, 1),
        "largest_rss_mib": round(max(watch.peak_kib, usage.ru_maxrss) / 1024, 1),
        **({"error": tail[0][:200]} if proc.returncode and tail else {}),
    }


# -- Custos ----------------------------------------------------------------------


@dataclass
class Custos:
    """A ``custos serve`` on a fresh home, and the two ways users submit to it."""

    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    api: str
    auth: dict[str, str]
    source_uuid: str
    source_path: Path

    def stage(self, sample: Path, name: str) -> Path:
        """Copy a sample into the home's transfer source (not timed)."""
        target = self.source_path / name
        if not target.exists():
            shutil.copytree(sample, target)
        return target

    def cli(self, path: Path, config: str, name: str) -> dict[str, Any]:
        """``custos transfer start PATH --config CONFIG --wait --json``: the whole command."""
        argv = [sys.executable, "-m", "cli", "transfer", "start", str(path), "--name", name,
                "--config", config, "--wait", "--json"]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(argv, env=self.env, cwd=self.home, capture_output=True, text=True)
        wall = time.monotonic() - started
        try:
            units = json.loads(done.stdout)
        except ValueError:
            units = {}
        status = _statuses(units)
        return {"wall_s": round(wall, 2), "rc": done.returncode, "status": status,
                **({"error": done.stderr.strip()[-300:]} if done.returncode else {})}  # fmt: skip

    def package(self, client: httpx.Client, name: str, config: str) -> dict[str, Any]:
        """``POST v2beta/package`` then the status polled until the SIP stops."""
        body = {
            "name": name,
            "path": base64.b64encode(f"{self.source_uuid}:{name}".encode()).decode(),
            "type": "standard",
            "processing_config": config,
        }
        started = time.monotonic()
        res = client.post("/api/v2beta/package/", json=body)
        res.raise_for_status()
        unit = res.json()["id"]
        sip = None
        status = "?"
        while time.monotonic() - started < 3600:
            path = f"/api/ingest/status/{sip}/" if sip else f"/api/transfer/status/{unit}/"
            res = client.get(path)
            if res.status_code == 200:
                doc = res.json()
                status = doc.get("status", "?")
                if sip is None and status in ("FAILED", "REJECTED", "USER_INPUT"):
                    break
                if sip is None and doc.get("sip_uuid") and doc["sip_uuid"] != "BACKLOG":
                    sip = doc["sip_uuid"]
                    continue
                if sip is not None and status in ("COMPLETE", "FAILED", "REJECTED", "USER_INPUT"):
                    break
            time.sleep(0.05)
        return {
            "wall_s": round(time.monotonic() - started, 2),
            "status": f"{'ingest' if sip else 'transfer'} {status}",
            "unit": unit,
            "sip": sip,
        }

    def clean_store(self) -> None:
        """Remove stored AIPs and processing leftovers between runs (disk space)."""
        for purpose in ("aip-store", "processing"):
            folder = self.home / "home" / "locations" / purpose
            if folder.is_dir():
                for child in folder.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    elif child.suffix in (".7z", ".tar", ".gz", ".bz2"):
                        child.unlink(missing_ok=True)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _statuses(units: Any) -> str:
    if isinstance(units, dict) and "transfer" in units:
        return " ".join(f"{k} {v.get('status')}" for k, v in units.items() if isinstance(v, dict))
    return "?"


def start_custos(scratch: Path, extra_env: dict[str, str]) -> Custos:
    """``custos init`` and ``custos serve`` on a fresh home under ``scratch`` (with
    ``extra_env`` on top of a clean environment)."""
    home = scratch / "custos"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CUSTOS_"))}
    env.update(
        {
            "CUSTOS_HOME": str(home / "home"),
            "CUSTOS_PORT": str(free_port()),
            "CUSTOS_PREFECT_PORT": str(free_port()),
            "CUSTOS_PREFECT_UI": "false",
            "PYTHONPATH": str(ROOT),
            **extra_env,
        }
    )
    os.environ["CUSTOS_HOME"] = env["CUSTOS_HOME"]
    os.environ.pop("CUSTOS_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "cli", "init"], env=env, check=True, cwd=home,
                   capture_output=True)  # fmt: skip
    from custos import processing
    from custos.settings import get_settings
    from custos.storage import LocationPurpose, default_location

    get_settings.cache_clear()
    automated = processing.load_named("automated")
    processing.save(COPY_CONFIG, automated.model_copy(update={"compression_algorithm": "7z-copy"}))
    source = default_location(LocationPurpose.TRANSFER_SOURCE)
    proc, info = start_serve(home, env)
    if "api_url" not in info:
        proc.wait(60)
        raise SystemExit(f"side_by_side: custos serve did not start: {info.get('message', info)}")
    return Custos(
        home=home,
        env=env,
        proc=proc,
        api=info["api_url"],
        auth={"Authorization": f"ApiKey admin:{info['admin_key']}"},
        source_uuid=source.uuid,
        source_path=Path(source.path),
    )


def phases(transfer: str, sip: str | None) -> dict[str, float]:
    """Where a transfer's seconds went, from the database: its creation to its first
    job (the flow run's queueing and start), its jobs, the gap to the SIP's first job
    (the ingest run's submission, queueing and start), the SIP's jobs."""
    from sqlalchemy import func, select

    from custos.db import session_scope
    from custos.models import Job, Unit

    def span(s: Any, unit: str) -> tuple[Any, Any]:
        row = s.execute(
            select(func.min(Job.started_at), func.max(Job.ended_at)).where(
                Job.unit_uuid == unit  # type: ignore[arg-type]
            )
        ).one()
        return row[0], row[1]

    with session_scope() as s:
        unit = s.get(Unit, transfer)
        assert unit is not None
        created = unit.created_at
        t0, t1 = span(s, transfer)
        i0, i1 = span(s, sip) if sip else (None, None)
    out = {"to_first_job": t0 - created, "transfer_jobs": t1 - t0}
    if i0 is not None and i1 is not None:
        out.update({"to_ingest_first_job": i0 - t1, "ingest_jobs": i1 - i0})
    return {k: round(v.total_seconds(), 2) for k, v in out.items()}


# -- runs and lines --------------------------------------------------------------


def measured(custos: Custos, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One Custos run with the serve tree's CPU and largest process."""
    with Watch([custos.proc.pid]) as watch:
        result = run()
    result["cpu_s"] = round(watch.cpu_s, 1)
    result["largest_rss_mib"] = round(watch.peak_kib / 1024, 1)
    result["largest_process"] = watch.biggest
    custos.clean_store()
    return result


def median(runs: list[dict[str, Any]], key: str = "wall_s") -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def line(workload: str, custos_runs: list[dict[str, Any]], a3m_runs: list[dict[str, Any]] | None,
         target: str, **extra: Any) -> None:  # fmt: skip
    """Print one JSON line: medians, ratio (a3m / Custos: how many times faster)."""
    ours = median(custos_runs)
    theirs = median(a3m_runs) if a3m_runs else None
    doc = {
        "bench": "side_by_side",
        "workload": workload,
        "custos_s": ours,
        "a3m_s": theirs,
        "ratio_a3m_over_custos": round(theirs / ours, 2) if ours and theirs else None,
        "target": target,
        "custos_cpu_s": median(custos_runs, "cpu_s"),
        "a3m_cpu_s": median(a3m_runs, "cpu_s") if a3m_runs else None,
        "custos_largest_rss_mib": max(
            (r.get("largest_rss_mib", 0) for r in custos_runs), default=None
        ),
        "load_avg": [round(v, 1) for v in os.getloadavg()],
        "custos_runs": custos_runs,
        "a3m_runs": a3m_runs,
        **extra,
    }
    print(json.dumps(doc), flush=True)


def make_small(folder: Path, count: int) -> None:
    """``count`` text files of 4 KiB in folders of 500."""
    for i in range(count):
        sub = folder / f"d{i // 500:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_bytes(os.urandom(2048).hex().encode())


def peers(args: argparse.Namespace) -> tuple[Path | None, Path]:
    """(a3m, samples folder), with a clear message when something is missing."""
    root = Path(args.peers_dir).expanduser()
    a3m = root / "a3m-venv" / "bin" / "a3m"
    samples = root / "samples"
    wanted = [s for s in ("A", "B", "C") if s in args.only]
    missing = [s for s in wanted if not (samples / s).is_dir()]
    hint = (
        f"install a3m 0.8.1 and generate the samples with the shared peers script: "
        f"PEERS_DIR={root} bash a3m_side_by_side.sh 0"
    )
    if missing:
        raise SystemExit(f"side_by_side: no sample {', '.join(missing)} in {samples}; {hint}")
    if args.no_a3m:
        return None, samples
    if not os.access(a3m, os.X_OK):
        raise SystemExit(f"side_by_side: a3m is not installed at {a3m}; {hint} "
                         "(or pass --no-a3m for Custos figures alone)")  # fmt: skip
    return a3m, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--latency-transfers", type=int, default=20)
    parser.add_argument("--peers-dir", default=os.environ.get("PEERS_DIR", "~/.cache/custos-peers"))
    parser.add_argument("--no-a3m", action="store_true", help="Custos figures only")
    parser.add_argument("--serve-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the serve (e.g. CUSTOS_FLOW_PROCESS=spawn)")  # fmt: skip
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the serve on the way out
    args.only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(args.only) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"side_by_side: unknown workload(s) {unknown}; choose from {WORKLOADS}")
    a3m, samples = peers(args)
    scratch = Path(tempfile.mkdtemp(prefix="custos-side-by-side-"))
    extra = dict(item.split("=", 1) for item in args.serve_env if "=" in item)
    custos = start_custos(scratch, extra)
    try:
        with httpx.Client(base_url=custos.api, headers=custos.auth, timeout=60) as client:
            run_all(args, a3m, samples, custos, client, scratch)
    finally:
        custos.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def run_all(args: argparse.Namespace, a3m: Path | None, samples: Path, custos: Custos,
            client: httpx.Client, scratch: Path) -> None:  # fmt: skip
    n = args.runs

    def a3m_runs(sample: str, lean: bool) -> list[dict[str, Any]] | None:
        if a3m is None:
            return None
        return [a3m_run(a3m, samples / sample, lean, f"{sample}-{i}", scratch) for i in range(n)]

    if "B" in args.only:
        staged = custos.stage(samples / "B", "B")
        theirs = a3m_runs("B", lean=True)
        cli = [measured(custos, partial(custos.cli, staged, COPY_CONFIG, f"B-cli-{i}"))
               for i in range(n)]  # fmt: skip
        api = []
        for i in range(n):
            name = f"B-api-{i}"
            custos.stage(samples / "B", name)
            api.append(measured(custos, partial(custos.package, client, name, COPY_CONFIG)))
        line("B 2,000 x 4 KiB, 7z copy, CLI with serve (a3m lean)", cli, theirs, ">= 10x faster")
        line("B 2,000 x 4 KiB, 7z copy, API v2beta/package (a3m lean)", api, theirs,
             ">= 10x faster")  # fmt: skip
    if "C" in args.only:
        staged = custos.stage(samples / "C", "C")
        theirs = a3m_runs("C", lean=True)
        copy = [measured(custos, partial(custos.cli, staged, COPY_CONFIG, f"C-cli-{i}"))
                for i in range(n)]  # fmt: skip
        line("C 500 MiB, 7z copy, CLI with serve (a3m lean)", copy, theirs, "see issue target 2")
        bz = [measured(custos, partial(custos.cli, staged, "automated", f"C-auto-{i}"))
              for i in range(n)]  # fmt: skip
        line("C 500 MiB, automated (7z bzip2), CLI with serve (a3m lean)", bz, theirs, "")
    if "A" in args.only:
        staged = custos.stage(samples / "A", "A")
        theirs = a3m_runs("A", lean=False)
        runs = [measured(custos, partial(custos.cli, staged, COPY_CONFIG, f"A-cli-{i}"))
                for i in range(n)]  # fmt: skip
        line("A 200 mixed, normalization, 7z copy, CLI with serve (a3m default)", runs, theirs,
             ">= 3x faster")  # fmt: skip
    if "B10k" in args.only:
        staged = custos.source_path / "B10k"
        make_small(staged, 10_000)
        runs = [measured(custos, partial(custos.cli, staged, COPY_CONFIG, f"B10k-cli-{i}"))
                for i in range(n)]  # fmt: skip
        line(
            "10,000 x 4 KiB, 7z copy, CLI with serve",
            runs,
            None,
            "< 25 s; largest process < 500 MiB",
        )
    if "latency" in args.only:
        one = []
        for i in range(args.latency_transfers):
            name = f"one-{i:02d}"
            (custos.source_path / name).mkdir()
            (custos.source_path / name / "one.txt").write_text(f"one file, transfer {i}\n")
            one.append(measured(custos, partial(custos.package, client, name, COPY_CONFIG)))
        walls = [r["wall_s"] for r in one]
        spans = [phases(r["unit"], r["sip"]) for r in one]
        print(json.dumps({
            "bench": "side_by_side",
            "workload": f"latency: {len(one)} one-file transfers, API v2beta/package to stored AIP",
            "p50_s": percentile(walls, 0.5),
            "p95_s": percentile(walls, 0.95),
            "target": "p50 <= 3 s, p95 <= 5 s",
            "custos_cpu_s_per_transfer": median(one, "cpu_s"),
            "custos_largest_rss_mib": max(r["largest_rss_mib"] for r in one),
            "load_avg": [round(v, 1) for v in os.getloadavg()],
            "phases_median_s": {
                key: round(statistics.median(p[key] for p in spans if key in p), 2)
                for key in ("to_first_job", "transfer_jobs", "to_ingest_first_job", "ingest_jobs")
                if any(key in p for p in spans)
            },
            "runs": [{k: r[k] for k in ("wall_s", "status", "cpu_s")} for r in one],
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
