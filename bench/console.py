"""Server time of every console page on a SQLite home with 10,000 units and 10,000 AIPs.

Fills a temporary home with ``--units`` units (half transfers, half SIPs, 12 jobs
each with one task), ``--aips`` stored AIPs (each with its SIP unit and 5 files of
assorted formats: 50,000 file rows), one real AIP bag whose METS the AIP page reads,
and ``--captures`` captures; then signs in as an admin and requests each page
``--requests`` times in this process (FastAPI's test client: the time measured is the
application's, with no network), after two warm-up requests. Prints one JSON line:
p50 and p95 in ms per page (wall time, and the CPU time of this process, which a
machine busy with other work inflates less), and whether every wall-time p95 is under
the 150 ms target.

Usage: ``python bench/console.py [--units 10000] [--aips 10000] [--captures 1000]
[--requests 40]``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 150.0
JOBS_PER_UNIT = 12
FILES_PER_AIP = 5
FORMATS = [
    ("fmt/43", "JPEG File Interchange Format"),
    ("fmt/353", "Tagged Image File Format"),
    ("fmt/18", "Acrobat PDF 1.4 - Portable Document Format"),
    ("x-fmt/111", "Plain Text File"),
    ("fmt/291", "OpenDocument Text"),
    ("fmt/199", "MPEG-4 Media File"),
    ("fmt/134", "MPEG 1/2 Audio Layer 3"),
]
GROUPS = ["Verify transfer compliance", "Scan for viruses", "Normalize", "Store AIP"]
PASSWORD = "bench-console-password"


def _chunks(rows: list[dict[str, Any]], size: int = 20000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def fill(units: int, aips: int, captures: int) -> dict[str, str]:
    """Insert everything; returns the uuids/guids the page list needs."""
    from sqlalchemy import insert
    from sqlmodel import col, select

    from custos.accounts import create_user
    from custos.db import get_engine, migrate, session_scope
    from custos.mets.mets import build_mets, mets_bytes
    from custos.models import (
        Capture,
        CaptureJob,
        File,
        Folder,
        Job,
        Location,
        LocationPurpose,
        Package,
        Task,
        Unit,
        new_uuid,
    )
    from custos.storage import ensure_default_locations
    from tests.mets.conftest import WHEN, sample_aip

    engine = get_engine()
    migrate(engine)
    ensure_default_locations()
    admin = create_user("bench-admin", role="admin", password=PASSWORD)
    base = datetime.now(UTC) - timedelta(days=400)
    Rows = list[dict[str, Any]]
    unit_rows: Rows = []
    job_rows: Rows = []
    task_rows: Rows = []
    first: dict[str, str] = {}
    for i in range(units):
        uuid = new_uuid()
        kind = "SIP" if i % 2 else "transfer"
        first.setdefault(kind, uuid)
        unit_rows.append(
            {
                "uuid": uuid,
                "unit_type": kind,
                "name": f"unit{i}",
                "transfer_type": "standard",
                "status": "COMPLETE" if i % 10 == 0 else "PROCESSING",
                "current_path": f"/var/processing/unit{i}",
                "processing_config": "default",
                "auto_approve": True,
                "hidden": False,
                "variables": {},
                "created_at": base + timedelta(minutes=i),
                "updated_at": base + timedelta(minutes=i),
            }
        )
        for seq in range(1, JOBS_PER_UNIT + 1):
            job = new_uuid()
            at = base + timedelta(minutes=i, seconds=seq)
            job_rows.append(
                {
                    "uuid": job,
                    "unit_uuid": uuid,
                    "unit_type": kind,
                    "microservice": GROUPS[seq % len(GROUPS)],
                    "name": f"Job step {seq}",
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
                    "job_uuid": job,
                    "file_name": "",
                    "exit_code": 0,
                    "arguments": "",
                    "stdout": "",
                    "stderr": "",
                    "created_at": at,
                }
            )
    with session_scope() as s:
        store = s.exec(
            select(Location).where(
                col(Location.purpose) == LocationPurpose.AIP_STORAGE, col(Location.is_default)
            )
        ).one()
        store_uuid, store_path = store.uuid, Path(store.path)
    aip_units: Rows = []
    packages: Rows = []
    files: Rows = []
    for i in range(aips):
        uuid = new_uuid()
        stored = base + timedelta(minutes=i)
        aip_units.append(
            {
                "uuid": uuid,
                "unit_type": "SIP",
                "name": f"aip{i}",
                "transfer_type": "standard",
                "status": "COMPLETE",
                "processing_config": "default",
                "accession": f"ACC-{i % 500}",
                "auto_approve": True,
                "hidden": False,
                "variables": {},
                "created_at": stored,
                "updated_at": stored,
            }
        )
        packages.append(
            {
                "uuid": uuid,
                "package_type": "AIP",
                "name": f"aip{i}",
                "location_uuid": store_uuid,
                "path": f"aip{i}-{uuid}.7z",
                "size": 1000 + i,
                "checksum_type": "sha256",
                "compression": "7z-bzip2",
                "status": "STORED",
                "stored_at": stored,
                "last_fixity_at": stored if i % 3 else None,
                "last_fixity_outcome": ("pass" if i % 50 else "fail") if i % 3 else None,
                "created_at": stored,
            }
        )
        for n in range(FILES_PER_AIP):
            puid, fmt = FORMATS[(i + n) % len(FORMATS)]
            path = f"objects/folder{n}/file-{i}-{n}.dat"
            files.append(
                {
                    "uuid": new_uuid(),
                    "unit_uuid": uuid,
                    "sip_uuid": uuid,
                    "original_path": path,
                    "current_path": path,
                    "size": 100 * n,
                    "puid": puid,
                    "format_name": fmt,
                    "use": "original",
                    "removed": False,
                    "created_at": stored,
                }
            )
    with engine.begin() as conn:
        for rows in (unit_rows, aip_units):
            for chunk in _chunks(rows):
                conn.execute(insert(Unit), chunk)
        for chunk in _chunks(job_rows):
            conn.execute(insert(Job), chunk)
        for chunk in _chunks(task_rows):
            conn.execute(insert(Task), chunk)
        for chunk in _chunks(packages):
            conn.execute(insert(Package), chunk)
        for chunk in _chunks(files):
            conn.execute(insert(File), chunk)
    # the newest AIP gets a real bag directory: the AIP page reads its METS
    newest = packages[-1]
    newest_uuid: str = newest["uuid"]
    bag = store_path / f"aip-{newest_uuid}"
    (bag / "data").mkdir(parents=True)
    aip = dataclasses.replace(sample_aip(), uuid=UUID(newest_uuid))
    mets = mets_bytes(build_mets(aip, now=lambda: WHEN))
    (bag / "data" / f"METS.{newest_uuid}.xml").write_bytes(mets)
    with session_scope() as s:
        row = s.get(Package, newest_uuid)
        assert row is not None
        row.path = bag.name
        folder = Folder(name="Personal Links", owned_by=admin.id, is_root_folder=True)
        s.add(folder)
        s.flush()
        folder_id = folder.id
    capture_rows: Rows = []
    capture_units: Rows = []
    capture_jobs: Rows = []
    for i in range(captures):
        uuid = new_uuid()
        at = base + timedelta(minutes=i)
        capture_units.append(
            {
                "uuid": uuid,
                "unit_type": "capture",
                "name": f"https://example.org/{i}",
                "transfer_type": "capture",
                "status": "COMPLETE",
                "processing_config": "capture",
                "auto_approve": True,
                "hidden": False,
                "variables": {},
                "created_at": at,
                "updated_at": at,
            }
        )
        guid = f"{i // 10000:04X}-{i % 10000:04d}"
        first.setdefault("capture", guid)
        capture_rows.append(
            {
                "uuid": uuid,
                "guid": guid,
                "timestamp": f"{1700000000 + i}",
                "url": f"https://example.org/{i}",
                "title": f"Page {i}",
                "status": "succeeded",
                "folder_id": folder_id,
                "created_by": admin.id,
                "created_at": at,
                "modified_at": at,
                "bookmarked_at": at,
                "notes": "",
                "is_private": False,
                "is_unlisted": False,
                "user_deleted": False,
                "default_to_screenshot_view": False,
            }
        )
        capture_jobs.append(
            {
                "capture_uuid": uuid,
                "status": "completed",
                "submitted_url": f"https://example.org/{i}",
                "created_by": admin.id,
                "created_at": at,
            }
        )
    with engine.begin() as conn:
        for chunk in _chunks(capture_units):
            conn.execute(insert(Unit), chunk)
        for chunk in _chunks(capture_rows):
            conn.execute(insert(Capture), chunk)
        for chunk in _chunks(capture_jobs):
            conn.execute(insert(CaptureJob), chunk)
    first["aip"] = newest_uuid
    return first


def pages(first: dict[str, str]) -> dict[str, str]:
    """Label -> path of every page measured."""
    aip = first["aip"]
    out = {
        "dashboard": "/",
        "dashboard_live": "/dashboard/live",
        "transfers": "/transfers",
        "transfers_list": "/transfers/list",
        "transfer": f"/transfers/{first['transfer']}",
        "ingest": "/ingest",
        "sip": f"/ingest/{first['SIP']}",
        "backlog": "/backlog",
        "storage": "/archival-storage",
        "storage_page_200": "/archival-storage?page=200",
        "storage_by_puid": "/archival-storage?puid=fmt/353",
        "storage_by_format_name": "/archival-storage?format_name=tagged",
        "storage_by_file_name": "/archival-storage?file_name=file-9999-",
        "storage_by_accession": "/archival-storage?accession=ACC-42",
        "storage_by_name": "/archival-storage?q=aip999",
        "storage_by_fixity_and_dates": (
            "/archival-storage?fixity=fail&stored_from=2000-01-01&stored_to=2100-01-01"
        ),
        "aip": f"/archival-storage/{aip}",
        "captures": "/captures",
        "capture": f"/captures/{first['capture']}",
        "admin": "/admin",
        "admin_processing": "/admin/processing",
        "admin_processing_form": "/admin/processing/default",
        "admin_format_policy": "/admin/format-policy",
        "admin_users": "/admin/users",
        "admin_locations": "/admin/locations",
    }
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1)


def measure(paths: dict[str, str], requests: int) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    client = TestClient(create_app(), base_url="http://testserver")
    form = client.get("/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    signed = client.post(
        "/signin",
        data={"username": "bench-admin", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text[:300]
    results: dict[str, dict[str, float]] = {}
    for label, path in paths.items():
        times, cpu = [], []
        for i in range(requests + 2):
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            used = (time.process_time() - start_cpu) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
            if i >= 2:
                times.append(elapsed)
                cpu.append(used)
        results[label] = {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": _p95(times),
            "cpu_p50_ms": round(statistics.median(cpu), 1),
            "cpu_p95_ms": _p95(cpu),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--aips", type=int, default=10_000)
    parser.add_argument("--captures", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="custos-bench-console-"))
    os.environ.update(CUSTOS_HOME=str(home), CUSTOS_DISPATCH="inline")
    os.environ.pop("CUSTOS_DATABASE_URL", None)
    sys.path.insert(0, str(REPO))
    try:
        t0 = time.perf_counter()
        first = fill(args.units, args.aips, args.captures)
        fill_s = time.perf_counter() - t0
        results = measure(pages(first), args.requests)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    worst = max(r["p95_ms"] for r in results.values())
    worst_cpu = max(r["cpu_p95_ms"] for r in results.values())
    print(
        json.dumps(
            {
                "bench": "console",
                "database": "sqlite",
                "units": args.units,
                "aips": args.aips,
                "files": args.aips * FILES_PER_AIP,
                "captures": args.captures,
                "requests_per_page": args.requests,
                "load_avg_1m": round(os.getloadavg()[0], 1),
                "fill_s": round(fill_s, 1),
                "pages": results,
                "worst_p95_ms": worst,
                "worst_cpu_p95_ms": worst_cpu,
                "target_p95_ms": TARGET_P95_MS,
                "target_met": worst < TARGET_P95_MS,
            }
        )
    )


if __name__ == "__main__":
    main()
