"""Benchmark: sample A (200 mixed files, normalization on), transfer to stored AIP.

Sample A is the mixed workload of the comparison with a3m: 50 text files, 50 PNG,
50 JPEG and 50 PDF in four folders. Every file is identified, characterized and
validated in the transfer; in the ingest the images and PDFs get preservation
derivatives (the *automated* configuration, with a3m's packaging: 7z without
compression). The transfer and the
ingest run in this process through the real steps (Prefect's engine not involved),
so what is timed is the work, not the orchestration.

The sample is read from ``--sample DIR`` (or ``CUSTOS_SAMPLE_A``), else from
``samples/A`` of the peers folder (``--peers-dir``, or ``PEERS_DIR``, default
``~/.cache/custos-peers``); without either it is made in a temporary folder by a
generator script named by ``--generator`` (or ``CUSTOS_SAMPLE_GENERATOR``), called as
``python GENERATOR OUTDIR A``. With ``--with-a3m`` (a3m in the peers folder's
``a3m-venv``) or ``--a3m BIN`` (or ``CUSTOS_A3M``), a3m is run on the same folder in
the same run, its "default" configuration (normalization on), with a home of its own,
and the ratio is printed. ``bench/side_by_side.py`` compares the same sample through
the command line and a running ``custos serve``; this bench times the steps.

Prints one JSON line: wall seconds of the transfer and the ingest, the CPU seconds
(user + system) of this process and every tool it ran, the load averages before and
after, the wall seconds of every job (from the Job rows, the slowest first), the CPU
seconds spent in each job and, with
``--runs N``, the median of N runs.

    python bench/sample_a.py [--sample DIR | --peers-dir DIR] [--runs 3] [--with-a3m]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_common import fresh_home

KINDS = {"text": ".txt", "png": ".png", "jpg": ".jpg", "pdf": ".pdf"}
#: *automated* with a3m's packaging (7z without compression), as the comparison asks.
CONFIG = "bench_sample_a"


def cpu_seconds() -> float:
    """User + system CPU of this process and of every child it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def check_sample(sample: Path) -> str | None:
    """Why ``sample`` is not sample A (None when it is: 50 files of each kind)."""
    if not sample.is_dir():
        return f"{sample} is not a folder"
    counts = {
        kind: len(list((sample / kind).glob(f"*{ext}"))) if (sample / kind).is_dir() else 0
        for kind, ext in KINDS.items()
    }
    wrong = {k: n for k, n in counts.items() if n != 50}
    if wrong:
        found = ", ".join(f"{k}: {n}" for k, n in counts.items())
        return f"{sample} is not sample A (50 files each of text, png, jpg, pdf; found {found})"
    return None


def make_sample(generator: Path, into: Path) -> Path:
    """Run the sample generator script into ``into``; returns the folder of sample A."""
    if not generator.is_file():
        raise SystemExit(f"sample generator not found: {generator}")
    subprocess.run([sys.executable, str(generator), str(into), "A"], check=True)
    return into / "A"


#: CPU seconds per job of the current run ("microservice: job"), see instrument_jobs.
JOB_CPU: dict[str, float] = {}


def instrument_jobs() -> None:
    """Count the CPU seconds (this process and the tools it waited for) spent inside
    each recorder job, into ``JOB_CPU``: a loaded machine stretches wall times, CPU
    seconds much less."""
    from custos.recorder import JobHandle, Recorder

    real = Recorder.job

    @contextmanager
    def counted(
        self: Recorder, unit_uuid: str, microservice: str, name: str, link_uuid: str | None = None
    ) -> Iterator[JobHandle]:
        started = cpu_seconds()
        try:
            with real(self, unit_uuid, microservice, name, link_uuid) as handle:
                yield handle
        finally:
            key = f"{microservice}: {name}"
            JOB_CPU[key] = JOB_CPU.get(key, 0.0) + cpu_seconds() - started

    Recorder.job = counted  # type: ignore[method-assign]


def job_seconds(unit_uuid: str) -> dict[str, float]:
    """Seconds per job of a unit (>= 0.05 s), slowest first."""
    from sqlmodel import col, select

    from custos.db import session_scope
    from custos.models import Job

    with session_scope() as s:
        jobs = s.exec(select(Job).where(col(Job.unit_uuid) == unit_uuid)).all()
    spans: dict[str, float] = {}
    for j in jobs:
        if j.started_at and j.ended_at:
            key = f"{j.microservice}: {j.name}"
            spans[key] = spans.get(key, 0.0) + (j.ended_at - j.started_at).total_seconds()
    ordered = sorted(spans.items(), key=lambda kv: -kv[1])
    return {k: round(v, 2) for k, v in ordered if v >= 0.05}


def run_custos(sample: Path, name: str) -> dict[str, Any]:
    """Transfer ``sample`` and ingest its SIP to a stored AIP (automated config)."""
    from custos import dispatch
    from custos.db import session_scope
    from custos.models import LocationPurpose, Unit
    from custos.storage import default_location
    from custos.transfers import start_transfer
    from flows.ingest import ingest
    from flows.transfer import run_transfer

    class Hold:
        def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
            return "held"

    dispatch.set_backend(Hold())
    JOB_CPU.clear()
    cpu0, load0, started = cpu_seconds(), os.getloadavg(), time.perf_counter()
    uuid = start_transfer(name, sample, processing_config=CONFIG)
    status = run_transfer(uuid, use_prefect=False, timings={})
    transfer_s = time.perf_counter() - started
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        sip_uuid = str(unit.sip_uuid) if unit and unit.sip_uuid else None
    if sip_uuid is None:
        return {"transfer_status": str(status), "error": "no SIP"}
    ingest_started = time.perf_counter()
    outcome = ingest.fn(sip_uuid)
    ingest_s = time.perf_counter() - ingest_started
    cpu = cpu_seconds() - cpu0
    store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
    stored = sorted(p.name for p in store.rglob("*") if p.name.split(".")[0].endswith(sip_uuid))
    return {
        "transfer_status": str(status),
        "ingest_outcome": outcome,
        "aip": stored[0] if stored else None,
        "total_s": round(transfer_s + ingest_s, 2),
        "transfer_s": round(transfer_s, 2),
        "ingest_s": round(ingest_s, 2),
        "cpu_s": round(cpu, 2),
        "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "transfer_jobs_s": job_seconds(uuid),
        "ingest_jobs_s": job_seconds(sip_uuid),
        "jobs_cpu_s": {
            k: round(v, 2) for k, v in sorted(JOB_CPU.items(), key=lambda kv: -kv[1]) if v >= 0.05
        },
    }


def run_a3m(a3m: Path, sample: Path, name: str) -> dict[str, Any]:
    """a3m's "default" configuration (normalization on) on ``sample``, own home."""
    home = Path(tempfile.mkdtemp(prefix="a3m-home-"))
    env = {**os.environ, "HOME": str(home), "PATH": f"{a3m.parent}:{os.environ['PATH']}"}
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(a3m), f"--name={name}", "--no-input", f"file://{sample.absolute()}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(home, ignore_errors=True)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rc": done.returncode,
    }
    if done.returncode != 0:
        result["error"] = (done.stderr or done.stdout).strip()[-300:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    peers = Path(os.environ.get("PEERS_DIR") or Path.home() / ".cache" / "custos-peers")
    parser.add_argument("--peers-dir", type=Path, default=peers)
    parser.add_argument("--sample", type=Path, default=os.environ.get("CUSTOS_SAMPLE_A"))
    parser.add_argument("--with-a3m", action="store_true")
    parser.add_argument("--generator", type=Path, default=os.environ.get("CUSTOS_SAMPLE_GENERATOR"))
    parser.add_argument("--a3m", type=Path, default=os.environ.get("CUSTOS_A3M"))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    scratch: Path | None = None
    if args.with_a3m and args.a3m is None:
        args.a3m = args.peers_dir / "a3m-venv" / "bin" / "a3m"
    if args.sample is None and (args.peers_dir / "samples" / "A").is_dir():
        args.sample = args.peers_dir / "samples" / "A"
    if args.sample is None:
        if args.generator is None:
            raise SystemExit(
                f"sample A is missing: not in {args.peers_dir / 'samples' / 'A'}; give "
                "--sample DIR (or CUSTOS_SAMPLE_A), --peers-dir (or PEERS_DIR), or a generator "
                "script with --generator (or CUSTOS_SAMPLE_GENERATOR)"
            )
        scratch = Path(tempfile.mkdtemp(prefix="custos-sample-a-"))
        args.sample = make_sample(args.generator, scratch)
    problem = check_sample(args.sample)
    if problem:
        raise SystemExit(problem)
    if args.a3m is not None and not args.a3m.is_file():
        raise SystemExit(f"a3m not found: {args.a3m} (install a3m 0.8.1 there, or give --a3m PATH)")
    home = fresh_home()
    instrument_jobs()
    from custos import processing

    automated = processing.load_named("automated")
    processing.save(CONFIG, automated.model_copy(update={"compression_algorithm": "7z-copy"}))
    runs = []
    for i in range(args.runs):
        runs.append(run_custos(args.sample, f"sample-a-{i}"))
        for folder in ("processing", "aip-store"):  # keep the disk free
            shutil.rmtree(home / "locations" / folder, ignore_errors=True)
            (home / "locations" / folder).mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "bench": "sample_a",
        "cores": os.cpu_count(),
        "custos_s": statistics.median(r.get("total_s", 0.0) for r in runs),
        "custos_cpu_s": statistics.median(r.get("cpu_s", 0.0) for r in runs),
        "runs": runs,
    }
    if args.a3m is not None:
        peer = [run_a3m(args.a3m, args.sample, f"A-default-{i}") for i in range(args.runs)]
        result["a3m"] = peer
        result["a3m_s"] = statistics.median(p["wall_s"] for p in peer)
        result["a3m_over_custos"] = round(result["a3m_s"] / result["custos_s"], 2)
    print(json.dumps(result))
    shutil.rmtree(home, ignore_errors=True)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
