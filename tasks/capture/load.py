"""The capture flow's one flaky step: loading the page, retried by Prefect.

``load_page`` runs the engine once per attempt. A navigation that failed or timed
out raises ``PageLoadFailed`` (carrying what was recorded anyway), and the task's
retries (``retry_on(PageLoadFailed)``: page loads only, never our own failures)
try again after ``RETRY_DELAY`` seconds, up to ``MAX_LOAD_ATTEMPTS`` in all. Each
attempt shows on the Perma job (``custos.capture_progress.start_page_load``). The
caller records the last attempt's result whatever it is: the WARC of a refused or
half-loaded page is still evidence.

A capture of a batch uses the batch's warm browser (``tasks.capture.warm``); one on
its own starts a browser for the attempt. Chromium dying during an attempt
(crashed, killed, out of memory: the engine marks the result ``browser_crashed``)
is retried once, with a new browser
(``BrowserCrashed``, a ``PageLoadFailed``); a second death in the same capture
raises ``BrowserCrashedAgain``, which is not retried: the capture fails with the
reason (``browser crashed: ...``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.capture_progress import claimed, start_page_load
from custos.captures import wants_format
from custos.db import session_scope
from custos.settings import get_settings
from custos.steps import retry_on

from .engine import CaptureOptions, CaptureResult, capture
from .warm import current_pool

log = logging.getLogger(__name__)

MAX_LOAD_ATTEMPTS = 3
RETRY_DELAY = 2.0


class PageLoadFailed(Exception):
    """The page did not load (navigation failed, or the load timed out)."""

    def __init__(self, result: CaptureResult) -> None:
        super().__init__(result.error or f"page load: {result.limit_hit}")
        self.result = result


class BrowserCrashed(PageLoadFailed):
    """Chromium died during the attempt: tried once more with a new browser."""


class BrowserCrashedAgain(Exception):
    """Chromium died in ``MAX_CRASHES`` attempts of one capture: the capture fails."""


#: Attempts of one capture in which Chromium may die before the capture fails.
MAX_CRASHES = 2
#: Crashes per capture unit in this process (the retries of one step run here).
_crashes: dict[str, int] = {}


def load_failed(result: CaptureResult) -> bool:
    """Whether the page itself did not load (worth another attempt)."""
    return bool(
        (result.error and result.error.startswith("navigation failed"))
        or result.limit_hit == "load_timeout"
    )


@task(
    name="Load page",
    cache_policy=NONE,
    retries=MAX_LOAD_ATTEMPTS - 1,
    retry_delay_seconds=RETRY_DELAY,
    retry_condition_fn=retry_on(PageLoadFailed),
)
def load_page(unit_uuid: str) -> CaptureResult:
    """Load the capture's page into its folder; raises ``PageLoadFailed`` when the
    page did not load (retried), returns the engine's result otherwise."""
    row = claimed(unit_uuid)
    attempt = start_page_load(unit_uuid)
    settings = get_settings()
    with session_scope() as s:
        wacz = wants_format(s, unit_uuid, "wacz")
        pdf = settings.capture_pdf or wants_format(s, unit_uuid, "pdf")
    options = CaptureOptions.from_settings(settings, wacz=wacz, pdf=pdf)
    out_dir = Path(row.directory or settings.home / "captures" / row.guid)
    result = capture(row.url, out_dir, options, pool=current_pool())
    if result.browser_crashed:
        crashes = _crashes[unit_uuid] = _crashes.get(unit_uuid, 0) + 1
        log.warning("capture %s: %s (attempt %d)", row.guid, result.error, attempt)
        if crashes >= MAX_CRASHES:
            _crashes.pop(unit_uuid, None)
            raise BrowserCrashedAgain(f"{result.error} ({crashes} times; not tried again)")
        raise BrowserCrashed(result)
    _crashes.pop(unit_uuid, None)
    if load_failed(result):
        log.info(
            "capture %s: page load failed (%s), attempt %d",
            row.guid,
            result.error or result.limit_hit,
            attempt,
        )
        raise PageLoadFailed(result)
    return result
