"""The ``capture`` flow: one web page into a WARC, with Perma's job progress.

A recipe walked by ``flows.steps.walk``, like every flow:

1. *Claim capture job*: the Perma job goes pending -> in_progress (STOP when there
   is nothing to do: deleted, sealed, already finished);
2. *Capture web page*: the page load (``tasks.capture.load.load_page``, the only
   step Prefect retries: the world is flaky, our own failures are not), then one
   ``ArchiveResult`` per output and the capture's metadata. A page that could not
   be captured is a recorded outcome (capture and job FAILED, STOP), and keeps
   whatever was recorded: the WARC of a refused or half-loaded page is evidence;
   When the capture is part of a crawl with depth left, its same-site links become
   captures of the same crawl (``custos.crawls``);
3. *Preserve capture*, when asked (per capture, or the ``capture_preserve``
   setting): the capture laid out as a transfer (``tasks.capture.preserve``) runs
   through the transfer steps inside this flow run; its outcome is an
   ``ArchiveResult`` ``preservation`` and never fails the capture.

Every database write is ``custos.capture_progress``'s. A step that raises fails
capture, job and unit with Perma's *Failed during capture* message, and the run
fails with the error.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from prefect import flow

from custos import capture_progress as progress
from custos.captures import wants_preservation
from custos.crawls import follow_links, has_depth_left
from custos.db import session_scope
from custos.faults import fault
from custos.models import JobStatus, LocationPurpose, utcnow
from custos.recorder import REMOVE_PROCESSING_DIR, Recorder
from custos.steps import Outcome
from flows.steps import call, walk
from tasks.capture.load import PageLoadFailed, load_page
from tasks.capture.preserve import prepare_transfer, preserve_folder

log = logging.getLogger(__name__)

PROCESSING_CONFIG = "capture"


def claim_capture_job(unit_uuid: str) -> Outcome:
    """Step 1: claim the Perma job; STOP when there is nothing to do (a run resumed
    after the page was captured goes on to the steps after the capture)."""
    if progress.captured(unit_uuid):
        return Outcome.CONTINUE
    if progress.claim(unit_uuid) is None:
        log.info("capture %s: nothing to do", unit_uuid)
        return Outcome.STOP
    return Outcome.CONTINUE


def capture_web_page(unit_uuid: str) -> Outcome:
    """Step 2: load the page (retried), record its outputs; STOP when it failed."""
    if progress.captured(unit_uuid):
        return Outcome.CONTINUE  # a resumed run: captured before the crash
    capture = progress.claimed(unit_uuid)
    recorder = Recorder()
    started = utcnow()
    with recorder.job(unit_uuid, progress.MICROSERVICE, "Load page and record WARC") as job:
        try:
            result = call(load_page, unit_uuid)
        except PageLoadFailed as exc:  # every attempt failed: what was recorded is kept
            result = exc.result
        job.task(
            file_name=capture.url,
            exit_code=0 if result.error is None else 1,
            arguments=capture.url,
            stdout=json.dumps(
                {
                    "final_url": result.final_url,
                    "status": result.status,
                    "resources": result.resources,
                    "total_bytes": result.total_bytes,
                    "limit_hit": result.limit_hit,
                    "blocked": result.blocked,
                    "tls_unverified_origins": result.tls_unverified_origins,
                    "timings": result.timings,
                }
            ),
            stderr=result.error or "",
            started_at=started,
        )
    progress.set_step(unit_uuid, 2.0, "Saving metadata")
    with recorder.job(unit_uuid, progress.MICROSERVICE, "Record capture outputs"):
        progress.set_step(unit_uuid, 3.0, "Saving web archive file (WARC)")
        ok = progress.record_results(capture, result, started)
        if result.wacz_path is not None:
            progress.set_step(unit_uuid, 4.0, "Saving web archive file (WACZ)")
    if not ok:
        progress.fail_capture(unit_uuid, result.error or progress.FAILED)
        return Outcome.STOP
    if has_depth_left(unit_uuid):  # before the job closes: a resumed run follows again
        with recorder.job(unit_uuid, progress.MICROSERVICE, "Follow same-site links") as job:
            followed = follow_links(unit_uuid, result.outlinks)
            job.output = f"{len(followed)} pages queued" if followed else "none"
    progress.finish(unit_uuid)
    return Outcome.CONTINUE


def preserve_capture(unit_uuid: str) -> Outcome:
    """Step 3: preserve the capture when asked (never fails the capture)."""
    with session_scope() as s:
        wanted = wants_preservation(s, unit_uuid)
    if wanted:
        preserve(unit_uuid)
    return Outcome.CONTINUE


def store_capture(unit_uuid: str) -> Outcome:
    """Step 4: the unit is complete (only now: a crash before this resumes the run)."""
    Recorder().record_job(
        unit_uuid, "Store capture", REMOVE_PROCESSING_DIR, status=JobStatus.COMPLETE
    )
    return Outcome.CONTINUE


STEPS = (claim_capture_job, capture_web_page, preserve_capture, store_capture)


def preserve(unit_uuid: str) -> str | None:
    """Send a finished capture as a transfer (``capture`` configuration); returns the
    SIP uuid (None: failed, or nothing to preserve).

    The transfer's uuid follows from the capture's (``progress.preservation_transfer``),
    so a run resumed after a crash finds the transfer the crashed run started instead
    of starting a second one. A new transfer runs inside this flow run (its unit
    carries this run's id, so the reconciler sees it alive); a transfer found already
    started is the reconciler's to resume (its run died with the crashed one), and this
    run waits for it. When its SIP exists ``Capture.aip_uuid`` is set (the SIP uuid is
    the AIP uuid) and the ingest runs as its own flow. The outcome is an ArchiveResult
    ``preservation`` (output: the AIP uuid or the reason), recorded in the same
    transaction; a failure there never fails the capture itself.
    """
    from custos.storage import default_location
    from custos.transfers import start_transfer
    from flows.transfer import run_transfer

    target = progress.to_preserve(unit_uuid)
    if target is None:
        return None  # not captured, or preserved already
    capture, run_id = target
    transfer_uuid = progress.preservation_transfer(capture.uuid)
    started = utcnow()
    error: str | None = None
    status: str | None = None
    location = default_location(LocationPurpose.TRANSFER_SOURCE)
    prepared = Path(location.path) / preserve_folder(capture)
    try:
        if progress.unit_status(transfer_uuid) is None:
            location_uuid, rel = prepare_transfer(capture)
            start_transfer(
                f"capture-{capture.guid}",
                (location_uuid, rel),
                processing_config=PROCESSING_CONFIG,
                accession=capture.guid,
                created_by=capture.created_by,
                submit=False,
                uuid=transfer_uuid,
            )
            fault("preserve-capture:started")
            progress.adopt_transfer(transfer_uuid, run_id)
            status = run_transfer(transfer_uuid)
        else:
            log.info("capture %s: waiting for its transfer %s", capture.guid, transfer_uuid)
            status = progress.wait_for_transfer(transfer_uuid)
    except Exception as exc:  # recorded on the capture, then logged
        error = f"{type(exc).__name__}: {exc}"
        log.exception("capture %s: preservation failed", capture.guid)
    shutil.rmtree(prepared, ignore_errors=True)  # the transfer copied it (or never will)
    fault("preserve-capture:removed")
    return progress.conclude_preservation(
        unit_uuid, transfer_uuid, status, error, started, PROCESSING_CONFIG
    )


@flow(name="capture")
def capture(unit_uuid: str) -> bool:
    """Capture the page of capture unit ``unit_uuid`` (started by ``dispatch.submit``),
    then preserve it when asked; True when the page was captured."""
    return walk(unit_uuid, STEPS, fail=progress.fail_step) is Outcome.CONTINUE
