"""Step 8 *Scan for viruses*: ClamAV over every file, one *virus check* event each.

Scanning uses the clamd named by ``settings.clamd_socket`` when set; otherwise a
private clamd is started for the duration of the scan (about 0.1 s with the
shipped signatures; it takes raw path bytes, so non-UTF-8 names scan too), and
``clamscan`` is the fallback when clamd is not installed. An infected file or a
file that could not be scanned fails the transfer, naming file and signature.
The signatures are the system's official ones when installed
(``custos.virus_signatures``); otherwise every *virus check* event says
``signatures="test-only"``, and with ``CUSTOS_CLAMAV_REQUIRE_OFFICIAL`` the job
fails before anything is scanned, and the unit with it.

ClamAV is the slowest microservice by far on large files (13-15 s of one core
per GiB of random data, and clamd scans one file on one thread). So the flow
starts a *prescan* in the background as soon as the transfer's folder has its
final layout (after step 2), overlapping it with UUIDs, checksums and the
checksum-file verification; step 8 then waits for it and records the tasks and
events. Nothing is skipped: each file's ``(size, mtime, ctime, inode)`` is taken
before it is scanned, and a file whose status differs at step 8 (or that the
prescan did not cover, or could not scan) is scanned again there.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import ConfigError, InvalidInput
from custos.models import File
from custos.processing import choice_value, link_for
from custos.recorder import JobHandle
from custos.walk import walk_files
from tasks.tools.clamav import (
    CLEAN,
    ERROR,
    INFECTED,
    Clamd,
    ClamdScanner,
    ScanOutcome,
    ScanReport,
    clamd_scanner,
    judge_signatures,
    scan_with_settings,
    usable_database,
)

from .common import YES_NO, TransferContext, load_context, microservice

GROUP = "Scan for viruses"
DECISION = "Do you want to scan for viruses in directories?"
DECISION_LINK = "7e81f94e-6441-4430-a12d-76df09181b66"
JOB = "Scan for viruses in directories"
log = logging.getLogger(__name__)

#: What identifies a file's content without reading it: size, mtime, ctime, inode.
Signature = tuple[int, int, int, int, int]


def file_signature(path: Path) -> Signature | None:
    """``(size, mtime_ns, ctime_ns, inode, device)``, or None when it cannot be stat'ed.

    ctime cannot be set by a user (``utime`` changes it too), so any write,
    truncation or replacement of the file after the stat shows up here.
    """
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def scan(ctx: TransferContext, paths: list[Path]) -> ScanReport:
    """Scan files with the best ClamAV available (see the module docstring)."""
    return scan_with_settings(paths, ctx.settings, run_name=f"clamd-{os.getpid()}-{ctx.uuid[:8]}")


class _Cancelled(Exception):
    """The prescan was cancelled before its private clamd started."""


@dataclass
class Prescan:
    """A background scan of a transfer's files, collected by step 8."""

    unit_uuid: str
    paths: list[Path]
    workers: int
    database_dir: Path
    socket_path: Path | None
    run_dir: Path
    signatures: dict[Path, Signature] = field(default_factory=dict)
    outcomes: dict[Path, ScanOutcome] = field(default_factory=dict)
    report: ScanReport | None = None
    failure: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    _clamd: Clamd | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the scan in a daemon thread."""
        self._thread = threading.Thread(
            target=self._run, name=f"prescan-{self.unit_uuid[:8]}", daemon=True
        )
        self._thread.start()

    def _scan_one(self, scanner: ClamdScanner, path: Path) -> None:
        if self.cancelled.is_set():
            return
        sig = file_signature(path)  # before the scan: a later change shows
        if sig is None:
            return
        outcome = scanner.scan_file(path)
        self.signatures[path] = sig
        self.outcomes[path] = outcome

    def _keep(self, clamd: Clamd) -> None:
        """Called by :func:`clamd_scanner` before a private clamd starts."""
        self._clamd = clamd
        if self.cancelled.is_set():
            raise _Cancelled

    def _run(self) -> None:
        try:
            with clamd_scanner(
                self.socket_path, self.run_dir, self.database_dir, starting=self._keep
            ) as scanner:
                if scanner is None:
                    self.failure = (
                        f"clamd at {self.socket_path} does not answer"
                        if self.socket_path is not None
                        else "clamd is not installed"
                    )
                    return
                if self.cancelled.is_set():
                    return
                version, definitions = scanner.version()
                self.report = ScanReport("ClamAV (clamd)", version, definitions)
                # Largest first: the long scans start at once, small files fill in.
                order = sorted(self.paths, key=lambda p: -(file_signature(p) or (0,))[0])
                with ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="prescan"
                ) as pool:
                    list(pool.map(lambda p: self._scan_one(scanner, p), order))
        except _Cancelled:
            return
        except Exception as exc:  # step 8 rescans whatever is missing
            if self.cancelled.is_set():
                return  # the clamd stopped under a scan: nobody waits for the result
            self.failure = str(exc)
            log.warning("background virus scan of %s failed: %s", self.unit_uuid, exc)

    def wait(self) -> None:
        """Block until the background scan has finished."""
        if self._thread is not None:
            self._thread.join()

    def cancel(self) -> None:
        """Stop scanning (unscanned files are simply not covered) and wait for the thread.

        A private clamd is stopped at once, so the scans in flight end too; the
        operator's clamd is left alone and only the scans not yet sent are dropped.
        """
        self.cancelled.set()
        clamd = self._clamd
        if clamd is not None:
            clamd.stop()
        self.wait()

    def result_for(self, path: Path) -> ScanOutcome | None:
        """The prescan's outcome for ``path`` if it still describes the file's bytes."""
        outcome = self.outcomes.get(path)
        if outcome is None or outcome.state == ERROR or self.report is None:
            return None
        if file_signature(path) != self.signatures.get(path):
            return None  # changed (or replaced) since it was scanned
        return outcome


_prescans: dict[str, Prescan] = {}
_lock = threading.Lock()


def _wanted(ctx: TransferContext) -> bool | None:
    """The scan decision if already known (given answer or configuration), else None."""
    from custos import decisions

    given = decisions.answered(ctx.uuid, DECISION, ctx.recorder.engine)
    if given is not None:
        return bool(choice_value(link_for("virus_scanning", DECISION_LINK), given))
    value = ctx.config.virus_scanning
    return None if value is None else bool(value)


def start_prescan(unit_uuid: str) -> bool:
    """Start scanning a transfer's objects and metadata in the background.

    Only when step 8 is still to do and the scan is known to be wanted. The clamd
    is the one :func:`tasks.tools.clamav.clamd_scanner` chooses, as for step 8;
    without one the prescan ends at once and step 8 scans everything itself
    (clamscan would compete for the CPU without overlapping). Returns True when a
    prescan was started.
    """
    ctx = load_context(unit_uuid)
    if not ctx.todo(JOB) or _wanted(ctx) is not True:
        return False
    try:
        database = usable_database(ctx.settings)
    except ConfigError:
        return False  # step 8 refuses, with the message
    root = ctx.directory
    paths = [
        p.absolute()
        for part in ("objects", "metadata")
        if (root / part).is_dir()
        for p in walk_files(root / part)
    ]
    pre = Prescan(
        unit_uuid=unit_uuid,
        paths=paths,
        workers=ctx.settings.worker_threads,
        database_dir=database.directory,
        socket_path=ctx.settings.clamd_socket,
        run_dir=ctx.settings.run_dir / f"clamd-pre-{os.getpid()}-{unit_uuid[:8]}",
    )
    with _lock:
        old = _prescans.pop(unit_uuid, None)
        _prescans[unit_uuid] = pre
    if old is not None:
        old.cancel()
    pre.start()
    return True


def take_prescan(unit_uuid: str) -> Prescan | None:
    """Remove and return the unit's prescan (finished: this waits for it)."""
    with _lock:
        pre = _prescans.pop(unit_uuid, None)
    if pre is not None:
        pre.wait()
    return pre


def cancel_prescan(unit_uuid: str) -> None:
    """Stop and forget a prescan nobody will collect (the flow stopped early)."""
    with _lock:
        pre = _prescans.pop(unit_uuid, None)
    if pre is not None:
        pre.cancel()


def scan_with_prescan(ctx: TransferContext, paths: list[Path], pre: Prescan | None) -> ScanReport:
    """Outcomes for ``paths``: the prescan's where still valid, a fresh scan for the rest."""
    reused: dict[Path, ScanOutcome] = {}
    if pre is not None:
        for path in paths:
            outcome = pre.result_for(path)
            if outcome is not None:
                reused[path] = outcome
    rest = [p for p in paths if p not in reused]
    fresh = scan(ctx, rest) if rest else None
    base = fresh or (pre.report if pre is not None else None)
    if base is None:  # no paths at all
        return scan(ctx, paths)
    by_path = dict(reused)
    if fresh is not None:
        by_path.update({o.path: o for o in fresh.outcomes})
    report = ScanReport(base.engine, base.version, base.definitions)
    report.outcomes = [by_path.get(p) or _missing(p) for p in paths]
    return report


def _missing(path: Path) -> ScanOutcome:
    return ScanOutcome(path, ERROR, message="no scan result")


def scan_rows(
    ctx: TransferContext, job: JobHandle, rows: list[File], prescan: Prescan | None = None
) -> None:
    """Scan File rows, record tasks and events, raise when anything is not clean."""
    if not rows:
        job.output = "no files"
        return
    paths = {ctx.disk_path(f).absolute(): f for f in rows}
    try:
        database = usable_database(ctx.settings)  # before anything is scanned
    except ConfigError:
        if prescan is not None:
            prescan.cancel()
        raise
    report = scan_with_prescan(ctx, list(paths), prescan)
    judge_signatures(report, ctx.settings, database)
    bad: list[str] = []
    for outcome in report.outcomes:
        row = paths[outcome.path.absolute()]
        job.task(
            file_uuid=row.uuid,
            file_name=row.current_path,
            exit_code=0 if outcome.state == CLEAN else 1,
            stdout="OK" if outcome.state == CLEAN else "",
            stderr="" if outcome.state == CLEAN else outcome.note,
        )
        job.event(
            file_uuid=row.uuid,
            event_type="virus check",
            detail=report.event_detail,
            outcome=outcome.premis_outcome,
            outcome_note=outcome.note,
        )
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
    wanted = ctx.decide("virus_scanning", GROUP, DECISION, YES_NO, link_uuid=DECISION_LINK)
    if not ctx.todo(JOB):
        return
    with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
        if not wanted:
            cancel_prescan(ctx.uuid)
            job.output = "skipped (configuration)"
            return
        scan_rows(ctx, job, ctx.files(), prescan=take_prescan(ctx.uuid))


scan_for_viruses = task(name=GROUP, cache_policy=NONE)(microservice(_scan))
