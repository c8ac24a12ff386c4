"""Step 8 *Scan for viruses*: ClamAV over every file, one *virus check* event each.

Scanning uses the clamd named by ``settings.clamd_socket`` when set; otherwise a
private clamd is started for the duration of the scan (about 0.1 s with the
shipped signatures; it takes raw path bytes, so non-UTF-8 names scan too), and
``clamscan`` is the fallback when clamd is not installed. An infected file or a
file that could not be scanned fails the transfer, naming file and signature.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import InvalidInput
from custos.models import File
from custos.recorder import JobHandle
from tasks.toolrun import which
from tasks.virus_scan import CLEAN, INFECTED, Clamd, ScanReport, scan_files

from .common import YES_NO, TransferContext, microservice

GROUP = "Scan for viruses"
DECISION = "Do you want to scan for viruses in directories?"
JOB = "Scan for viruses in directories"
PRIVATE_CLAMD_FROM = 1


def scan(ctx: TransferContext, paths: list[Path]) -> ScanReport:
    """Scan files with the best ClamAV available (see the module docstring)."""
    db = ctx.settings.clamav_database
    if ctx.settings.clamd_socket is not None:
        return scan_files(paths, database_dir=db, socket_path=ctx.settings.clamd_socket)
    if len(paths) >= PRIVATE_CLAMD_FROM and which("clamd"):
        run_dir = ctx.settings.run_dir / f"clamd-{os.getpid()}-{ctx.uuid[:8]}"
        with Clamd(run_dir, db) as clamd:
            return clamd.scanner().scan_files(paths, workers=ctx.settings.worker_threads)
    return scan_files(paths, database_dir=db)


def scan_rows(ctx: TransferContext, job: JobHandle, rows: list[File]) -> None:
    """Scan File rows, record tasks and events, raise when anything is not clean."""
    if not rows:
        job.output = "no files"
        return
    paths = {ctx.disk_path(f).absolute(): f for f in rows}
    report = scan(ctx, list(paths))
    bad: list[str] = []
    for outcome in report.outcomes:
        row = paths[outcome.path.absolute()]
        job.task(file_uuid=row.uuid, file_name=row.current_path,
                 exit_code=0 if outcome.state == CLEAN else 1,
                 stdout="OK" if outcome.state == CLEAN else "",
                 stderr="" if outcome.state == CLEAN else outcome.note)
        job.event(file_uuid=row.uuid, event_type="virus check", detail=report.event_detail,
                  outcome=outcome.premis_outcome, outcome_note=outcome.note)
        if outcome.state == INFECTED:
            bad.append(f"{row.current_path}: {outcome.signature} FOUND")
        elif outcome.state != CLEAN:
            bad.append(f"{row.current_path}: not scanned ({outcome.note})")
    job.output = "\n".join(bad) or f"{len(rows)} files clean"
    if bad:
        raise InvalidInput("virus scan failed: " + "; ".join(bad[:10]), details=bad)


def _scan(ctx: TransferContext) -> None:
    if not ctx.todo(JOB) and not ctx.todo(DECISION):
        return
    wanted = ctx.decide("virus_scanning", GROUP, DECISION, YES_NO,
                        link_uuid="7e81f94e-6441-4430-a12d-76df09181b66")
    if not ctx.todo(JOB):
        return
    with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
        if not wanted:
            job.output = "skipped (configuration)"
            return
        scan_rows(ctx, job, ctx.files())


scan_for_viruses = task(name=GROUP, cache_policy=NONE)(microservice(_scan))
