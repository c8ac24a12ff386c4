"""The ``capture-batch`` flow: the captures of one submission on one warm browser.

A flow run per capture costs a Python process started by the runner (Prefect,
Playwright and Custos imported again), the runner's poll, and a Chromium started
and stopped for the one page: three quarters of a batch's time went there while
the engine itself waited. A batch (Perma's ``POST /v1/archives/batches``, several
URLs in the console) is instead submitted as one run of this flow
(``custos.capture_batches``), which

- starts one browser pool (``tasks.capture.warm``) with ``capture_concurrency``
  contexts, and runs that many captures at a time in worker threads;
- runs each capture as the ``capture`` flow itself, called as a subflow: every
  capture is still its own unit with its own status, job, WARC, WACZ and
  provenance, and its own flow run in the dashboard (a child of the batch's run),
  with the same steps, retries and failure handling as a capture run alone;
- outside Prefect (the inline backend) calls the same flow's function instead.

Every unit of the batch carries this run's id, so the reconciler sees them alive
while it runs; a unit that another run drives meanwhile (the reconciler started
it again after this run was lost) is left to that run. One capture that fails
never stops the others: its failure is recorded on it, and the batch goes on.
"""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor

from prefect import flow

from custos.settings import get_settings
from flows.capture import capture
from flows.steps import in_flow_run, owns_unit, submitted_run_id
from tasks.capture.warm import warm_browser

log = logging.getLogger(__name__)


def capture_one(unit_uuid: str, run_id: str | None) -> bool:
    """One capture of the batch, as a subflow in a flow run (its function outside one)."""
    if run_id is not None and not owns_unit(unit_uuid, run_id, wait=0):
        log.warning("capture %s is driven by another run; left to it", unit_uuid)
        return False
    try:
        if in_flow_run():
            return bool(capture(unit_uuid))
        return bool(capture.fn(unit_uuid))
    except Exception as exc:  # recorded on the capture by its own flow; the batch goes on
        log.warning("capture %s failed: %s", unit_uuid, exc)
        return False


@flow(name="capture-batch")
def capture_batch(unit_uuids: list[str]) -> int:
    """Capture every unit of ``unit_uuids`` on one warm browser, ``capture_concurrency``
    at a time; returns how many were captured."""
    run_id = submitted_run_id()
    if run_id is not None and unit_uuids:  # the submitter records the run just after
        owns_unit(unit_uuids[0], run_id)  # (on every unit at once): wait for it
    width = max(1, min(get_settings().capture_concurrency, len(unit_uuids)))
    with warm_browser(), ThreadPoolExecutor(width, thread_name_prefix="capture") as workers:
        # each capture runs in a copy of this context: the flow run (its subflows are
        # children of it) and the warm browser
        futures = [
            workers.submit(contextvars.copy_context().run, capture_one, unit, run_id)
            for unit in unit_uuids
        ]
        done = sum(future.result() for future in futures)
    log.info("capture batch: %d of %d captured", done, len(unit_uuids))
    return done
