"""What a capture run writes: its progress, its outputs, its outcome.

The ``capture`` flow (``flows/capture.py``) is a recipe; every row it changes is
written here, next to ``custos.captures`` (which makes captures and decides who
may touch them). One run reports its progress three ways from the same calls:
Perma's ``CaptureJob`` (``status``, ``step_count``/``step_description``,
``attempt``, ``message``), ArchiveBox's ``Capture.status``, and the unit's jobs
(the flow records them through the recorder).

Example::

    capture = claim(unit_uuid)                 # pending -> in_progress, or None
    start_page_load(unit_uuid)                 # step 1, one more attempt
    ok = record_results(capture, result, started)
    finish(unit_uuid) if ok else fail_capture(unit_uuid, result.error or FAILED)
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col, select

from custos.capture_search import index_completed
from custos.captures import TLS_EXTRACTOR, tls_output
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import (
    ArchiveResult,
    Capture,
    CaptureJob,
    CaptureJobStatus,
    CaptureStatus,
    ResultStatus,
    Unit,
    UnitStatus,
    utcnow,
)
from custos.recorder import Recorder

MICROSERVICE = "Capture web page"
SOFTWARE = "Custos capture (Playwright + Chromium)"
FAILED = "Failed during capture."
FETCHING = "Fetching target URL"
#: The ArchiveResult of a capture's preservation (output: the AIP uuid or the reason).
PRESERVATION_EXTRACTOR = "preservation"


class EngineResult(Protocol):
    """What ``record_results`` reads of the engine's ``CaptureResult``."""

    url: str
    final_url: str | None
    title: str
    description: str
    favicon_url: str | None
    warc_path: Path | None
    wacz_path: Path | None
    user_agent: str
    error: str | None
    tls: list[dict[str, Any]]
    tls_unverified_origins: list[str]


@dataclass(frozen=True)
class Output:
    """How one engine output becomes an ArchiveResult (ArchiveBox extractor + Perma role)."""

    extractor: str
    attr: str
    role: str | None
    url: str | None
    record_type: str | None
    content_type: str | None


OUTPUTS = (
    Output("warc", "warc_path", "primary", None, "response", "text/html"),
    Output(
        "screenshot",
        "screenshot_path",
        "screenshot",
        "file:///screenshot.png",
        "resource",
        "image/png",
    ),
    Output("dom", "dom_path", "dom_snapshot", "file:///dom-snapshot.html", "resource", "text/html"),
    Output(
        "pdf", "pdf_path", "pdf_snapshot", "file:///pdf-snapshot.pdf", "resource", "application/pdf"
    ),
    Output("favicon", "favicon_path", "favicon", None, "response", None),
    Output(
        "headers",
        "provenance_html_path",
        "provenance_summary",
        "file:///provenance-summary.html",
        "resource",
        "text/html",
    ),
    Output("wacz", "wacz_path", None, None, None, "application/wacz"),
)
#: Outputs only made when asked for or offered: absent, they get no ArchiveResult.
OPTIONAL = frozenset({"pdf", "wacz", "favicon"})


def set_step(capture_uuid: str, step: float, description: str, **job_values: Any) -> None:
    """Advance the Perma capture job (``step_count`` is a float, as Perma reports it)."""
    with session_scope() as s:
        s.execute(
            update(CaptureJob)
            .where(col(CaptureJob.capture_uuid) == capture_uuid)
            .values(step_count=step, step_description=description, **job_values)
        )


def claim(unit_uuid: str) -> Capture | None:
    """Move a pending job to in_progress; None when there is nothing to do (deleted,
    sealed, or a job that is neither pending nor in progress)."""
    with session_scope() as s:
        capture = s.get(Capture, unit_uuid)
        if capture is None:
            raise NotFound(f"no capture {unit_uuid}")
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == unit_uuid)).first()
        if (
            capture.user_deleted
            or capture.status == CaptureStatus.SEALED
            or (
                job is not None
                and job.status not in (CaptureJobStatus.PENDING, CaptureJobStatus.IN_PROGRESS)
            )
        ):
            return None
        now = utcnow()
        capture.status, capture.capture_start, capture.modified_at = (
            CaptureStatus.STARTED,
            now,
            now,
        )
        capture.retry_at = None
        s.execute(
            update(CaptureJob)
            .where(col(CaptureJob.capture_uuid) == unit_uuid)
            .values(
                status=CaptureJobStatus.IN_PROGRESS,
                capture_start_time=now,
                attempt=col(CaptureJob.attempt) + 1,
                step_count=0.0,
                step_description="Starting capture",
            )
        )
        return capture


def claimed(unit_uuid: str) -> Capture:
    """The capture row (claimed by this run)."""
    with session_scope() as s:
        capture = s.get(Capture, unit_uuid)
        if capture is None:
            raise NotFound(f"no capture {unit_uuid}")
        return capture


def start_page_load(capture_uuid: str) -> int:
    """Report a page load on the Perma job; returns the job's attempt number.

    The first load of a run is step 1, *Fetching target URL*; a load that finds
    the job already fetching is a retry: one more attempt, and the step says so.
    """
    with session_scope() as s:
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture_uuid)).first()
        if job is None:
            raise NotFound(f"no capture job for {capture_uuid}")
        retry = job.step_count >= 1.0
        if retry:
            job.attempt += 1
        job.step_count = 1.0
        job.step_description = f"{FETCHING} (attempt {job.attempt})" if retry else FETCHING
        return job.attempt


def record_results(capture: Capture, result: EngineResult, started: datetime) -> bool:
    """Write ArchiveResults and capture metadata; True when the capture succeeded."""
    directory = Path(capture.directory or ".")
    now = utcnow()
    warc = result.warc_path
    ok = result.error is None and warc is not None and warc.exists()
    with session_scope() as s:
        for out in OUTPUTS:
            path: Path | None = getattr(result, out.attr)
            made = path is not None and path.exists()
            if not made and out.extractor in OPTIONAL:
                continue
            url = out.url or (result.favicon_url if out.extractor == "favicon" else capture.url)
            content_type = out.content_type
            if out.extractor == "favicon" and path is not None:
                content_type = {
                    ".png": "image/png",
                    ".ico": "image/x-icon",
                    ".svg": "image/svg+xml",
                }.get(path.suffix, "image/x-icon")
            s.add(
                ArchiveResult(
                    capture_uuid=capture.uuid,
                    extractor=out.extractor,
                    role=out.role,
                    status=ResultStatus.SUCCEEDED if made else ResultStatus.FAILED,
                    url=url,
                    record_type=out.record_type,
                    content_type=content_type,
                    output=_relative(path, directory) if made and path else None,
                    output_size=path.stat().st_size if made and path else None,
                    cmd=SOFTWARE,
                    start_ts=started,
                    end_ts=now,
                )
            )
        s.add(
            ArchiveResult(
                capture_uuid=capture.uuid,
                extractor="title",
                status=ResultStatus.SUCCEEDED if result.title else ResultStatus.FAILED,
                output=result.title or None,
                cmd=SOFTWARE,
                start_ts=started,
                end_ts=now,
            )
        )
        if result.tls:  # https origins: did each certificate verify (system trust store)?
            s.add(
                ArchiveResult(
                    capture_uuid=capture.uuid,
                    extractor=TLS_EXTRACTOR,
                    status=ResultStatus.FAILED
                    if result.tls_unverified_origins
                    else ResultStatus.SUCCEEDED,
                    url=capture.url,
                    content_type="application/json",
                    output=tls_output(result.tls),
                    cmd=SOFTWARE,
                    start_ts=started,
                    end_ts=now,
                )
            )
        row = s.get(Capture, capture.uuid)
        assert row is not None
        row.final_url = result.final_url
        row.title = row.title or result.title or None
        row.description = (result.description or None) and result.description[:300]
        if warc is not None and warc.exists():
            row.warc_path, row.warc_size = str(warc), warc.stat().st_size
        if result.wacz_path is not None and result.wacz_path.exists():
            row.wacz_path, row.wacz_size = str(result.wacz_path), result.wacz_path.stat().st_size
        row.captured_by_software = SOFTWARE
        row.captured_by_browser = result.user_agent or None
        row.capture_end = row.downloaded_at = row.modified_at = now
        row.status = CaptureStatus.SUCCEEDED if ok else CaptureStatus.FAILED
    if ok:  # searchable by its title, URL and page text from now on
        index_completed(capture.uuid)
    return ok


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def finish(capture_uuid: str, ok: bool = True, message: str | None = None) -> None:
    """Close the Perma job (completed, or failed with a JSON message)."""
    values: dict[str, Any] = {
        "capture_end_time": utcnow(),
        "status": CaptureJobStatus.COMPLETED if ok else CaptureJobStatus.FAILED,
    }
    if not ok:
        values["message"] = json.dumps({"error": [message or FAILED]})
    with session_scope() as s:
        s.execute(
            update(CaptureJob).where(col(CaptureJob.capture_uuid) == capture_uuid).values(**values)
        )


def fail_capture(capture_uuid: str, message: str) -> None:
    """Mark capture, job and unit failed, keeping whatever was already recorded."""
    with session_scope() as s:
        s.execute(
            update(Capture)
            .where(col(Capture.uuid) == capture_uuid)
            .values(status=CaptureStatus.FAILED, capture_end=utcnow(), modified_at=utcnow())
        )
        known = s.get(Unit, capture_uuid) is not None
    finish(capture_uuid, False, message)
    if known:
        Recorder().fail_unit(capture_uuid, message)


def fail_step(capture_uuid: str, _step: str, exc: BaseException) -> None:
    """The capture flow's failure path (``flows.steps.walk(fail=...)``): Perma's wording."""
    fail_capture(capture_uuid, f"Failed during capture: {exc}")


# -- preservation ---------------------------------------------------------------------
#: Namespace of the uuid of a capture's preservation transfer (``preservation_transfer``).
PRESERVATION_NAMESPACE = uuid.UUID("6f1d2a64-3c1e-5b7a-9f43-2d8c0e5a7b19")
#: Unit states a transfer does not leave by itself.
TRANSFER_ENDS = (UnitStatus.COMPLETE, UnitStatus.FAILED, UnitStatus.REJECTED)
WAIT_POLL = 1.0


def captured(capture_uuid: str) -> bool:
    """Whether the page was captured and its Perma job closed (a resumed run goes on
    from there)."""
    with session_scope() as s:
        capture = s.get(Capture, capture_uuid)
        if capture is None or capture.status != CaptureStatus.SUCCEEDED:
            return False
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture_uuid)).first()
        return job is not None and job.status == CaptureJobStatus.COMPLETED


def to_preserve(capture_uuid: str) -> tuple[Capture, str | None] | None:
    """``(capture, its flow run id)`` when the capture succeeded and its preservation
    has no outcome yet."""
    with session_scope() as s:
        capture = s.get(Capture, capture_uuid)
        unit = s.get(Unit, capture_uuid)
        if capture is None or capture.status != CaptureStatus.SUCCEEDED or capture.aip_uuid:
            return None
        if s.exec(
            select(ArchiveResult.uuid).where(
                col(ArchiveResult.capture_uuid) == capture_uuid,
                col(ArchiveResult.extractor) == PRESERVATION_EXTRACTOR,
            )
        ).first():
            return None
        return capture, unit.flow_run_id if unit is not None else None


def preservation_transfer(capture_uuid: str) -> str:
    """The uuid of the capture's preservation transfer: the same in every run, so a
    resumed run finds the transfer a crashed run started."""
    return str(uuid.uuid5(PRESERVATION_NAMESPACE, capture_uuid))


def unit_status(unit_uuid: str) -> UnitStatus | None:
    """The unit's status (None: no such unit)."""
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        return UnitStatus(unit.status) if unit is not None else None


def adopt_transfer(transfer_uuid: str, run_id: str | None) -> None:
    """Mark the capture's transfer as run by the capture's own flow run (so the
    reconciler sees it alive while that run lives)."""
    with session_scope() as s:
        s.execute(
            update(Unit)
            .where(col(Unit.uuid) == transfer_uuid)
            .values(flow_run_id=run_id, submitted_at=utcnow())
        )


def wait_for_transfer(transfer_uuid: str, poll: float = WAIT_POLL) -> str:
    """Wait until the transfer made its SIP or stopped (its run is the reconciler's
    to start again); its status then. A transfer that waits for a decision ends the
    wait as well: the capture configuration answers every one."""
    while True:
        with session_scope() as s:
            unit = s.get(Unit, transfer_uuid)
            if unit is None:
                raise NotFound(f"no transfer {transfer_uuid}")
            done = unit.sip_uuid or unit.status in (*TRANSFER_ENDS, UnitStatus.USER_INPUT)
            if done:
                return str(unit.status)
        time.sleep(poll)


def conclude_preservation(
    capture_uuid: str,
    transfer_uuid: str,
    status: str | None,
    error: str | None,
    started: datetime,
    config: str,
) -> str | None:
    """Record the outcome in one transaction: the capture's ``aip_uuid`` once the
    transfer made its SIP (the SIP uuid is the AIP uuid), and the ``preservation``
    ArchiveResult (the AIP uuid, or why there is none). Returns the SIP uuid."""
    with session_scope() as s:
        transfer = s.get(Unit, transfer_uuid)
        candidate = transfer.sip_uuid if transfer is not None else None
        sip_uuid = candidate if candidate and candidate != "BACKLOG" else None
        if sip_uuid is None and error is None:
            error = (
                transfer.error
                if transfer is not None and transfer.error
                else f"transfer {transfer_uuid} stopped ({status}) without a SIP"
            )
        if sip_uuid is not None:
            s.execute(
                update(Capture)
                .where(col(Capture.uuid) == capture_uuid)
                .values(aip_uuid=sip_uuid, modified_at=utcnow())
            )
        s.add(
            ArchiveResult(
                capture_uuid=capture_uuid,
                extractor=PRESERVATION_EXTRACTOR,
                status=ResultStatus.SUCCEEDED if sip_uuid else ResultStatus.FAILED,
                output=sip_uuid or error,
                cmd=f"transfer ({config})",
                start_ts=started,
                end_ts=utcnow(),
            )
        )
    return sip_uuid
