"""The ``capture`` flow: one web page into a WARC, with Perma's job progress.

Steps: claim the ``CaptureJob`` (pending -> in_progress), run the engine (only the
page load is retried: the world is flaky, our own failures are not), then write
one ``ArchiveResult`` per output and the capture's metadata. A failed capture
keeps whatever was recorded (the WARC of a refused or half-loaded page is still
evidence). Progress is reported three ways from the same steps: Perma's
``step_count``/``step_description``, ArchiveBox's ``Capture.status``, and the
unit's jobs through the recorder.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from sqlalchemy import update
from sqlmodel import col, select

from custos.captures import (
    TLS_EXTRACTOR,
    tls_output,
    tls_record,
    wants_preservation,
    wants_wacz,
)
from custos.db import session_scope
from custos.errors import CustosError, NotFound
from custos.models import (
    ArchiveResult,
    Capture,
    CaptureJob,
    JobStatus,
    LocationPurpose,
    Unit,
    utcnow,
)
from custos.recorder import REMOVE_PROCESSING_DIR, Recorder
from custos.settings import get_settings
from flows.steps import call_step

if TYPE_CHECKING:
    from tasks.capture import CaptureResult

log = logging.getLogger(__name__)

MAX_LOAD_ATTEMPTS = 3
RETRY_DELAY = 2.0
MICROSERVICE = "Capture web page"
SOFTWARE = "Custos capture (Playwright + Chromium)"
PROCESSING_CONFIG = "capture"
#: Folder of the default transfer source where captures are laid out as transfers.
PRESERVE_FOLDER = "captures"


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
    Output("screenshot", "screenshot_path", "screenshot", "file:///screenshot.png",
           "resource", "image/png"),
    Output("dom", "dom_path", "dom_snapshot", "file:///dom-snapshot.html", "resource",
           "text/html"),
    Output("pdf", "pdf_path", "pdf_snapshot", "file:///pdf-snapshot.pdf", "resource",
           "application/pdf"),
    Output("favicon", "favicon_path", "favicon", None, "response", None),
    Output("headers", "provenance_html_path", "provenance_summary",
           "file:///provenance-summary.html", "resource", "text/html"),
    Output("wacz", "wacz_path", None, None, None, "application/wacz"),
)


def set_step(capture_uuid: str, step: float, description: str, **job_values: Any) -> None:
    """Advance the Perma capture job (``step_count`` is a float, as Perma reports it)."""
    with session_scope() as s:
        s.execute(update(CaptureJob).where(col(CaptureJob.capture_uuid) == capture_uuid)
                  .values(step_count=step, step_description=description, **job_values))


def claim(unit_uuid: str) -> Capture | None:
    """Move a pending job to in_progress; None when there is nothing to do."""
    with session_scope() as s:
        capture = s.get(Capture, unit_uuid)
        if capture is None:
            raise NotFound(f"no capture {unit_uuid}")
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == unit_uuid)).first()
        if capture.user_deleted or capture.status == "sealed" or (
                job is not None and job.status not in ("pending", "in_progress")):
            return None
        now = utcnow()
        capture.status, capture.capture_start, capture.modified_at = "started", now, now
        capture.retry_at = None
        s.execute(update(CaptureJob).where(col(CaptureJob.capture_uuid) == unit_uuid)
                  .values(status="in_progress", capture_start_time=now,
                          attempt=col(CaptureJob.attempt) + 1,
                          step_count=0.0, step_description="Starting capture"))
        return capture


def run_engine(capture: Capture) -> CaptureResult:
    """Run the engine, retrying only a page load that failed or timed out."""
    from tasks.capture import CaptureOptions
    from tasks.capture import capture as engine_capture

    settings = get_settings()
    with session_scope() as s:
        wacz = wants_wacz(s, capture.uuid)
    options = CaptureOptions.from_settings(settings, wacz=wacz)
    out_dir = Path(capture.directory or settings.home / "captures" / capture.guid)
    result = engine_capture(capture.url, out_dir, options)
    for attempt in range(2, MAX_LOAD_ATTEMPTS + 1):
        if not _load_failed(result):
            break
        log.info("capture %s: page load failed (%s), attempt %d", capture.guid,
                 result.error or result.limit_hit, attempt)
        set_step(capture.uuid, 1.0, f"Fetching target URL (attempt {attempt})",
                 attempt=attempt)
        time.sleep(RETRY_DELAY)
        result = engine_capture(capture.url, out_dir, options)
    return result


def _load_failed(result: CaptureResult) -> bool:
    return bool((result.error and result.error.startswith("navigation failed"))
                or result.limit_hit == "load_timeout")


def record_results(capture: Capture, result: CaptureResult, started: Any) -> bool:
    """Write ArchiveResults and capture metadata; True when the capture succeeded."""
    directory = Path(capture.directory or ".")
    now = utcnow()
    ok = result.error is None and result.warc_path is not None and result.warc_path.exists()
    with session_scope() as s:
        for out in OUTPUTS:
            path: Path | None = getattr(result, out.attr)
            made = path is not None and path.exists()
            if not made and out.extractor in ("pdf", "wacz", "favicon"):
                continue  # optional outputs: absent means not asked for / not offered
            url = out.url or (result.favicon_url if out.extractor == "favicon" else capture.url)
            content_type = out.content_type
            if out.extractor == "favicon" and path is not None:
                content_type = {".png": "image/png", ".ico": "image/x-icon",
                                ".svg": "image/svg+xml"}.get(path.suffix, "image/x-icon")
            s.add(ArchiveResult(
                capture_uuid=capture.uuid, extractor=out.extractor, role=out.role,
                status="succeeded" if made else "failed", url=url,
                record_type=out.record_type, content_type=content_type,
                output=_relative(path, directory) if made and path else None,
                output_size=path.stat().st_size if made and path else None,
                cmd=SOFTWARE, start_ts=started, end_ts=now))
        s.add(ArchiveResult(capture_uuid=capture.uuid, extractor="title",
                            status="succeeded" if result.title else "failed",
                            output=result.title or None, cmd=SOFTWARE, start_ts=started,
                            end_ts=now))
        if result.tls:  # https origins: did each certificate verify (system trust store)?
            s.add(ArchiveResult(capture_uuid=capture.uuid, extractor=TLS_EXTRACTOR,
                                status="failed" if result.tls_unverified_origins
                                else "succeeded",
                                url=capture.url, content_type="application/json",
                                output=tls_output(result.tls), cmd=SOFTWARE,
                                start_ts=started, end_ts=now))
        row = s.get(Capture, capture.uuid)
        assert row is not None
        row.final_url = result.final_url
        row.title = row.title or result.title or None
        row.description = (result.description or None) and result.description[:300]
        if result.warc_path is not None and result.warc_path.exists():
            row.warc_path, row.warc_size = str(result.warc_path), result.warc_path.stat().st_size
        if result.wacz_path is not None and result.wacz_path.exists():
            row.wacz_path, row.wacz_size = str(result.wacz_path), result.wacz_path.stat().st_size
        row.captured_by_software = SOFTWARE
        row.captured_by_browser = result.user_agent or None
        row.capture_end = row.downloaded_at = row.modified_at = now
        row.status = "succeeded" if ok else "failed"
    return ok


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def finish(capture: Capture, ok: bool, message: str | None) -> None:
    """Close the Perma job (completed/failed with a JSON message)."""
    values: dict[str, Any] = {"capture_end_time": utcnow(),
                              "status": "completed" if ok else "failed"}
    if not ok:
        values["message"] = json.dumps({"error": [message or "Failed during capture."]})
    with session_scope() as s:
        s.execute(update(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)
                  .values(**values))


def fail(capture: Capture, message: str) -> None:
    """Mark capture, job and unit failed, keeping whatever was already recorded."""
    with session_scope() as s:
        s.execute(update(Capture).where(col(Capture.uuid) == capture.uuid)
                  .values(status="failed", capture_end=utcnow(), modified_at=utcnow()))
    finish(capture, False, message)
    Recorder().fail_unit(capture.uuid, message)


@task(name="capture-page")
def capture_page(unit_uuid: str) -> bool:
    """Load, record and describe one capture; True on success."""
    capture = claim(unit_uuid)
    if capture is None:
        log.info("capture %s: nothing to do", unit_uuid)
        return False
    recorder = Recorder()
    started = utcnow()
    try:
        set_step(unit_uuid, 1.0, "Fetching target URL")
        with recorder.job(unit_uuid, MICROSERVICE, "Load page and record WARC") as job:
            result = run_engine(capture)
            job.task(file_name=capture.url, exit_code=0 if result.error is None else 1,
                     arguments=capture.url, stdout=json.dumps({
                         "final_url": result.final_url, "status": result.status,
                         "resources": result.resources, "total_bytes": result.total_bytes,
                         "limit_hit": result.limit_hit, "blocked": result.blocked,
                         "tls_unverified_origins": result.tls_unverified_origins,
                         "timings": result.timings}),
                     stderr=result.error or "", started_at=started)
        set_step(unit_uuid, 2.0, "Saving metadata")
        with recorder.job(unit_uuid, MICROSERVICE, "Record capture outputs"):
            set_step(unit_uuid, 3.0, "Saving web archive file (WARC)")
            ok = record_results(capture, result, started)
            if result.wacz_path is not None:
                set_step(unit_uuid, 4.0, "Saving web archive file (WACZ)")
    except (CustosError, OSError) as exc:
        fail(capture, f"Failed during capture: {exc}")
        raise
    if not ok:
        fail(capture, result.error or "Failed during capture.")
        return False
    finish(capture, True, None)
    recorder.record_job(unit_uuid, "Store capture", REMOVE_PROCESSING_DIR,
                        status=JobStatus.COMPLETE)
    return True


# -- preservation ---------------------------------------------------------------------
def prepare_transfer(capture: Capture) -> tuple[str, str]:
    """Lay the capture out as a standard transfer in the default transfer source.

    Returns ``(location uuid, relative path)``. Objects: the WARC (uncompressed,
    ``<GUID>.warc``: Siegfried identifies a ``.warc.gz`` only as GZIP, the bare
    WARC as WARC), the screenshot and the WACZ when made. Submission
    documentation: the provenance summary (HTML and JSON) and ``capture.json``
    (this capture's record, with the digests of the WARC as captured and the
    TLS verdict of each https origin).
    ``metadata/metadata.csv`` gives the WARC its Dublin Core title, source and date.
    """
    from custos.storage import default_location

    if not capture.warc_path or not Path(capture.warc_path).is_file():
        raise CustosError(f"capture {capture.guid} has no WARC to preserve")
    location = default_location(LocationPurpose.TRANSFER_SOURCE)
    rel = f"{PRESERVE_FOLDER}/capture-{capture.guid}-{capture.uuid[:8]}"
    root = Path(location.path) / rel
    if root.exists():
        shutil.rmtree(root)
    docs = root / "metadata" / "submissionDocumentation"
    docs.mkdir(parents=True)
    warc_gz = Path(capture.warc_path)
    warc = root / f"{capture.guid}.warc"
    digest_gz, digest = hashlib.sha256(), hashlib.sha256()
    with gzip.open(warc_gz, "rb") as src, warc.open("wb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
    with warc_gz.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest_gz.update(chunk)
    directory = Path(capture.directory or warc_gz.parent)
    objects = [warc.name]
    for name, target in (("screenshot.png", "screenshot.png"),
                         (Path(capture.wacz_path).name if capture.wacz_path else "",
                          f"{capture.guid}.wacz")):
        if name and (directory / name).is_file():
            shutil.copy2(directory / name, root / target)
            objects.append(target)
    for name in ("provenance-summary.html", "provenance-summary.json"):
        if (directory / name).is_file():
            shutil.copy2(directory / name, docs / name)
    record = {"guid": capture.guid, "uuid": capture.uuid, "url": capture.url,
              "final_url": capture.final_url, "title": capture.title,
              "description": capture.description,
              "capture_start": capture.capture_start, "capture_end": capture.capture_end,
              "captured_by_software": capture.captured_by_software,
              "captured_by_browser": capture.captured_by_browser,
              "warc_gz": {"name": warc_gz.name, "size": warc_gz.stat().st_size,
                          "sha256": digest_gz.hexdigest()},
              "warc": {"name": warc.name, "size": warc.stat().st_size,
                       "sha256": digest.hexdigest()},
              "objects": objects}
    with session_scope() as s:
        record["tls"] = tls_record(s, capture.uuid).get("origins", [])
    (docs / "capture.json").write_text(json.dumps(record, default=str, indent=2) + "\n")
    when = capture.capture_end or capture.created_at
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["filename", "dc.title", "dc.identifier", "dc.identifier", "dc.source",
                     "dc.date", "dc.type", "dc.format"])
    writer.writerow([f"objects/{warc.name}", capture.title or capture.url, capture.guid,
                     capture.uuid, capture.url, when.date().isoformat(), "Web archive",
                     "WARC"])
    (root / "metadata" / "metadata.csv").write_text(out.getvalue())
    return location.uuid, rel


def preserve(unit_uuid: str) -> str | None:
    """Send a finished capture as a transfer (``capture`` configuration); returns the SIP uuid.

    The transfer runs inside this flow run (its unit carries this run's id, so
    the reconciler sees it alive); when its SIP exists ``Capture.aip_uuid`` is
    set (the SIP uuid is the AIP uuid) and the ingest runs as its own flow. The
    outcome is an ArchiveResult ``preservation`` (output: the AIP uuid or the
    reason); a failure there never fails the capture itself.
    """
    from custos.storage import default_location
    from custos.transfers import start_transfer
    from flows.transfer import run_transfer

    with session_scope() as s:
        capture = s.get(Capture, unit_uuid)
        unit = s.get(Unit, unit_uuid)
        if capture is None or capture.status != "succeeded" or capture.aip_uuid:
            return capture.aip_uuid if capture else None
        run_id = unit.flow_run_id if unit is not None else None
    started = utcnow()
    sip_uuid: str | None = None
    error: str | None = None
    prepared: Path | None = None
    try:
        location_uuid, rel = prepare_transfer(capture)
        prepared = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / rel
        transfer_uuid = start_transfer(f"capture-{capture.guid}", (location_uuid, rel),
                                       processing_config=PROCESSING_CONFIG,
                                       accession=capture.guid,
                                       created_by=capture.created_by, submit=False)
        with session_scope() as s:
            s.execute(update(Unit).where(col(Unit.uuid) == transfer_uuid)
                      .values(flow_run_id=run_id, submitted_at=utcnow()))
        status = run_transfer(transfer_uuid)
        with session_scope() as s:
            transfer = s.get(Unit, transfer_uuid)
            candidate = transfer.sip_uuid if transfer is not None else None
            if candidate and candidate != "BACKLOG":
                sip_uuid = candidate
                s.execute(update(Capture).where(col(Capture.uuid) == unit_uuid)
                          .values(aip_uuid=sip_uuid, modified_at=utcnow()))
            else:
                error = (transfer.error if transfer is not None and transfer.error else
                         f"transfer {transfer_uuid} stopped ({status}) without a SIP")
    except Exception as exc:  # noqa: BLE001 - recorded on the capture, then logged
        error = f"{type(exc).__name__}: {exc}"
        log.exception("capture %s: preservation failed", capture.guid)
    finally:
        if prepared is not None:
            shutil.rmtree(prepared, ignore_errors=True)
    with session_scope() as s:
        s.add(ArchiveResult(capture_uuid=unit_uuid, extractor="preservation",
                            status="succeeded" if sip_uuid else "failed",
                            output=sip_uuid or error, cmd=f"transfer ({PROCESSING_CONFIG})",
                            start_ts=started, end_ts=utcnow()))
    return sip_uuid


@flow(name="capture")
def capture(unit_uuid: str) -> bool:
    """Capture the page of capture unit ``unit_uuid`` (started by ``dispatch.submit``),
    then preserve it when asked (per capture, or the ``capture_preserve`` setting)."""
    ok = bool(call_step(capture_page, unit_uuid))  # a plain function outside a flow run
    if ok:
        with session_scope() as s:
            wanted = wants_preservation(s, unit_uuid)
        if wanted:
            preserve(unit_uuid)
    return ok
