"""Shared set-up for the transfer benchmarks: a throw-away home and the floor."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def fresh_home() -> Path:
    """A temporary Custos home with a migrated database and default locations."""
    home = Path(tempfile.mkdtemp(prefix="custos-bench-"))
    os.environ["CUSTOS_HOME"] = str(home)
    os.environ.pop("CUSTOS_DATABASE_URL", None)
    from custos.db import get_engine, migrate
    from custos.settings import get_settings
    from custos.storage import ensure_default_locations

    get_settings.cache_clear()
    migrate(get_engine())
    ensure_default_locations()
    return home


def floor(src: Path, scratch: Path, copies: int = 1) -> float:
    """Seconds to read+sha256 every byte once and copy the tree ``copies`` times, one
    copy from the previous (into ``scratch``, which is removed afterwards)."""
    started = time.perf_counter()
    for dirpath, _dirs, files in os.walk(src):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                hashlib.file_digest(fh, "sha256")
    previous = src
    for i in range(copies):
        target = scratch / f"copy-{i}"
        shutil.copytree(previous, target)
        previous = target
    elapsed = time.perf_counter() - started
    shutil.rmtree(scratch, ignore_errors=True)
    return elapsed


def floors(src: Path, scratch: Path, runs: int = 3, copies: int = 1) -> tuple[float, list[float]]:
    """(median, all runs) of ``floor``: one run swings 3x with the disk's write-back
    (10,000 small files: 0.64-1.90 s on one quiet machine), the median much less."""
    seen = [floor(src, scratch.with_name(f"{scratch.name}-{i}"), copies) for i in range(runs)]
    return statistics.median(seen), [round(s, 3) for s in seen]


def run(src: Path, name: str) -> dict[str, Any]:
    """Start and run one transfer (automated config, no Prefect) and time it."""
    from custos import dispatch
    from custos.transfers import start_transfer
    from flows.transfer import run_transfer

    class Hold:
        def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
            return "held"

    dispatch.set_backend(Hold())
    timings: dict[str, float] = {}
    started = time.perf_counter()
    uuid = start_transfer(name, src, processing_config="automated")
    timings["start_transfer"] = time.perf_counter() - started
    status = run_transfer(uuid, use_prefect=False, timings=timings)
    total = time.perf_counter() - started
    return {
        "status": str(status),
        "total_s": round(total, 2),
        "per_microservice_s": {k: round(v, 3) for k, v in timings.items()},
    }
