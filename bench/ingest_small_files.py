"""Ingest of a SIP of 1,000 small text files with a 'preservation' configuration.

Why: ingest cost on many small files is per-file overhead (rows, events, METS
entries, bag manifests), not bytes; this measures it against the floor of reading,
hashing and copying the same bytes once. Text needs no normalization, so the
normalization step only looks up the policy. Prints one JSON line: seconds end to
end, seconds per job (from the Job rows), the floor and the ratio.

    python bench/ingest_small_files.py [--files 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_common import floor, fresh_home


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    home = fresh_home()
    from sqlmodel import col, select

    from custos import processing
    from custos.db import session_scope
    from custos.models import File, Job, LocationPurpose, Unit, UnitType, new_uuid
    from custos.storage import default_location
    from flows.ingest import ingest

    processing.save(
        "preservation",
        processing.load_named("automated").model_copy(
            update={"normalize": "preservation", "thumbnails": "none"}
        ),
    )
    uuid = new_uuid()
    root = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path) / f"bench-{uuid}"
    rows = []
    for i in range(args.files):
        rel = f"objects/d{i // 100:02d}/file-{i:04d}.txt"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"small file {i}\n".encode() * 8
        path.write_bytes(data)
        rows.append(
            File(
                unit_uuid=uuid,
                sip_uuid=uuid,
                original_path=rel,
                current_path=rel,
                size=len(data),
                checksum=hashlib.sha256(data).hexdigest(),
                checksum_type="sha256",
                puid="x-fmt/111",
                format_name="Plain Text",
            )
        )
    scratch = Path(tempfile.mkdtemp(prefix="custos-bench-floor-"))
    floor_s = floor(root / "objects", scratch / "copy")
    shutil.rmtree(scratch)
    with session_scope() as s:
        s.add(
            Unit(
                uuid=uuid,
                unit_type=UnitType.SIP,
                name="bench",
                current_path=str(root),
                processing_config="preservation",
                transfer_uuid=new_uuid(),
            )
        )
    with session_scope() as s:
        s.add_all(rows)
    started = time.perf_counter()
    outcome = ingest.fn(uuid)
    total = time.perf_counter() - started
    with session_scope() as s:
        jobs = s.exec(select(Job).where(col(Job.unit_uuid) == uuid).order_by(col(Job.seq))).all()
        per_job = {
            j.name: round((j.ended_at - j.started_at).total_seconds(), 3)
            for j in jobs
            if j.started_at and j.ended_at and (j.ended_at - j.started_at).total_seconds() >= 0.01
        }
    print(
        json.dumps(
            {
                "bench": "ingest_small_files",
                "files": args.files,
                "outcome": outcome,
                "seconds": round(total, 3),
                "floor_seconds": round(floor_s, 3),
                "ratio_to_floor": round(total / floor_s, 1) if floor_s else None,
                "cores": os.cpu_count(),
                "per_job": per_job,
            }
        )
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
