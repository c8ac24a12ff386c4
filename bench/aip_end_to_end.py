"""Benchmark: transfer to stored AIP, end to end, beside the floor of the same run.

Two workloads, each through the real transfer steps and the ingest flow with
the *automated* configuration (Prefect's engine not involved; the ingest is
called as a function, the way the transfer would submit it):

* 10,000 files of 4 KiB (target: under 2 minutes end to end);
* one 1 GiB file of random data (target: within 4x the floor).

Each runs once per AIP packaging: ``uncompressed`` and ``7z-copy`` (7z without
compression), chosen through a processing configuration derived from
*automated* (``compression_algorithm``, see ``tasks.ingest.options``). The
floor is measured in the same run on the same bytes: read and sha256-hash
everything once, then copy the tree twice (into processing, into the AIP).

Prints one JSON line: per run the transfer and ingest seconds, the transfer's
seconds per microservice, the ingest's seconds per job (from the Job rows, the
slowest first), the floor and the ratio. ``--only small|large`` and
``--compression`` narrow the runs.

    python bench/aip_end_to_end.py [--only small] [--compression uncompressed]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_common import floor, fresh_home

SMALL_FILES, SMALL_SIZE = 10_000, 4096
LARGE_SIZE = 1024**3
PACKAGINGS = ("uncompressed", "7z-copy")
TARGETS = {"small": "< 120 s end to end", "large": "<= 4x floor"}


def config_name(packaging: str) -> str:
    """The benchmark's processing configuration for a packaging (1-16 word chars)."""
    return "bench_" + packaging.replace("-", "")[:10]


def make_small(src: Path) -> None:
    """10,000 files of 4 KiB (hex text) in 20 folders."""
    for i in range(SMALL_FILES):
        d = src / f"d{i // 500:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(os.urandom(SMALL_SIZE // 2).hex().encode())


def make_large(src: Path) -> None:
    """One 1 GiB file of random bytes (no repeated blocks)."""
    src.mkdir(parents=True)
    with open(src / "big.bin", "wb") as fh:
        for _ in range(LARGE_SIZE // (1024 * 1024)):
            fh.write(os.urandom(1024 * 1024))


def ingest_jobs(sip_uuid: str) -> dict[str, float]:
    """Seconds per ingest job (>= 0.05 s), slowest first."""
    from sqlmodel import col, select

    from custos.db import session_scope
    from custos.models import Job

    with session_scope() as s:
        jobs = s.exec(select(Job).where(col(Job.unit_uuid) == sip_uuid)).all()
    spans = {
        f"{j.microservice}: {j.name}": (j.ended_at - j.started_at).total_seconds()
        for j in jobs
        if j.started_at and j.ended_at
    }
    return {k: round(v, 2) for k, v in sorted(spans.items(), key=lambda kv: -kv[1]) if v >= 0.05}


def run_one(src: Path, name: str, config: str) -> dict[str, Any]:
    """Transfer ``src`` and ingest its SIP to a stored AIP; times and outcome."""
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
    timings: dict[str, float] = {}
    started = time.perf_counter()
    uuid = start_transfer(name, src, processing_config=config)
    timings["start_transfer"] = time.perf_counter() - started
    status = run_transfer(uuid, use_prefect=False, timings=timings)
    transfer_s = time.perf_counter() - started
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        sip_uuid = str(unit.sip_uuid) if unit and unit.sip_uuid else None
    if sip_uuid is None:
        return {"transfer_status": str(status), "error": "no SIP"}
    ingest_started = time.perf_counter()
    outcome = ingest.fn(sip_uuid)
    ingest_s = time.perf_counter() - ingest_started
    store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
    stored = sorted(p.name for p in store.rglob("*") if p.name.split(".")[0].endswith(sip_uuid))
    return {
        "transfer_status": str(status),
        "ingest_outcome": outcome,
        "transfer_s": round(transfer_s, 2),
        "ingest_s": round(ingest_s, 2),
        "total_s": round(transfer_s + ingest_s, 2),
        "aip": stored[0] if stored else None,
        "transfer_steps_s": {k: round(v, 2) for k, v in timings.items() if v >= 0.05},
        "ingest_jobs_s": ingest_jobs(sip_uuid),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["small", "large"])
    parser.add_argument("--compression", choices=PACKAGINGS)
    args = parser.parse_args()
    home = fresh_home()
    from custos import processing

    automated = processing.load_named("automated")
    for packaging in PACKAGINGS:
        processing.save(
            config_name(packaging),
            automated.model_copy(update={"compression_algorithm": packaging}),
        )
    results: dict[str, Any] = {"bench": "aip_end_to_end", "cores": os.cpu_count()}
    for workload, make in (("small", make_small), ("large", make_large)):
        if args.only and workload != args.only:
            continue
        src = home / f"source-{workload}"
        make(src)
        base = floor(src, Path(tempfile.mkdtemp(prefix="custos-bench-floor-", dir=home)), copies=2)
        for packaging in PACKAGINGS:
            if args.compression and packaging != args.compression:
                continue
            run = run_one(src, f"{workload}-{packaging}", config_name(packaging))
            run.update(
                {
                    "floor_s": round(base, 2),
                    "target": TARGETS[workload],
                    "ratio_to_floor": round(run.get("total_s", 0) / base, 1),
                }
            )
            results[f"{workload}/{packaging}"] = run
            for folder in ("processing", "aip-store"):  # keep the disk free
                shutil.rmtree(home / "locations" / folder, ignore_errors=True)
                (home / "locations" / folder).mkdir(parents=True, exist_ok=True)
        shutil.rmtree(src)
    print(json.dumps(results))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
