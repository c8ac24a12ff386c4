"""One way to run a flow: walk its steps, with Prefect or without it, one failure policy.

Every flow (transfer, ingest, reingest, capture) is a recipe: the unit's steps in
order, each ``step(unit_uuid) -> Outcome`` (``custos.steps``), walked by ``walk``:

- a step that returns ``Outcome.CONTINUE`` lets the next one run; ``WAIT`` (a
  decision is pending) or ``STOP`` (the unit left the flow) ends the walk with
  that outcome; after the last step the walk returns ``CONTINUE``;
- **transient database errors** (a lost connection: PostgreSQL restarted, the
  backend terminated; ``custos.db.is_transient``) do not fail the unit: the step
  runs again (``DB_RETRIES`` times, after ``DB_RETRY_DELAY`` seconds and more),
  which is safe because every step skips what it already completed and redoes a
  half-done job from its start;
- **failure policy**: a step that raises sends the unit down its failure path
  (``Recorder.fail_unit``: status FAILED, the step's name and the reason kept on
  the unit; a capture also closes its Perma job) and the exception propagates,
  so the flow run fails too (in the Prefect dashboard as in the logs). Nothing
  is retried here: retries are declared on the few tasks that talk to the flaky
  world (``custos.steps.retry_on``).

Inside a flow run (a served deployment, a work-pool worker) each step that is a
Prefect task runs as one, so it shows in the dashboard. Outside one (the inline
backend: ``custos ... --wait`` without a serve, the tests, the benchmarks) it is
called as a plain function, with the task's own retries applied here: no Prefect
engine, no Prefect server, no Prefect output. ``prefect=`` forces either.

**One run per unit.** Inside a flow run the walk starts only when the unit's
recorded flow run (``Unit.flow_run_id``, written by ``custos.dispatch.submit``) is
this run (a deployment's run; a flow called directly is not checked): a run
created by a submission that died before recording it, and then
superseded by the reconciler's resubmission, ends at once (``Outcome.STOP``)
instead of working on the unit beside the other (``owns_unit``).

Example::

    outcome = walk(unit_uuid, (verify_sip, normalize_sip, store_aip))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from prefect import Task
from prefect.context import FlowRunContext

from custos.db import is_transient
from custos.recorder import Recorder
from custos.steps import Outcome, should_retry
from tasks import space

log = logging.getLogger(__name__)

#: Times a step is run again after a transient database error, and the first wait.
DB_RETRIES = 3
DB_RETRY_DELAY = 1.0

#: ``fail(unit_uuid, step_name, exc)``: how a failure is recorded on the unit.
FailureRecorder = Callable[[str, str, BaseException], None]


def in_flow_run() -> bool:
    """Whether this code runs inside a Prefect flow run."""
    return FlowRunContext.get() is not None


#: How long a run waits for its submitter to record it on the unit.
OWNERSHIP_WAIT = 10.0


def submitted_run_id() -> str | None:
    """The id of the deployment's flow run this code runs in (what ``custos.dispatch``
    submits), if any; None outside one and in a flow called directly."""
    context = FlowRunContext.get()
    run = getattr(context, "flow_run", None) if context is not None else None
    if run is None or getattr(run, "deployment_id", None) is None:
        return None
    return str(run.id)


def owns_unit(unit_uuid: str, run_id: str, *, wait: float = OWNERSHIP_WAIT) -> bool:
    """Whether ``run_id`` is the unit's recorded flow run (waiting up to ``wait``
    seconds for its submitter to record it)."""
    from custos.db import session_scope
    from custos.models import Unit

    deadline = time.monotonic() + wait
    while True:
        with session_scope() as s:
            unit = s.get(Unit, unit_uuid)
            recorded = unit.flow_run_id if unit is not None else None
        if recorded == run_id or unit is None:
            return True  # a missing unit is the first step's error to report
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def step_name(step: Any) -> str:
    """A step's name: its Prefect task name, else its function name."""
    return str(getattr(step, "name", None) or getattr(step, "__name__", repr(step)))


def call(step: Any, *args: Any, prefect: bool | None = None) -> Any:
    """Call ``step``: as the Prefect task it is inside a flow run, as a function outside.

    Outside a flow run a task's declared retries (``retries``,
    ``retry_delay_seconds``, a ``retry_on`` condition) are applied here, so the
    same step is retried the same way with or without Prefect.
    """
    if not isinstance(step, Task):
        return step(*args)
    if in_flow_run() if prefect is None else prefect:
        return step(*args)
    retries = int(step.retries or 0)
    for attempt in range(retries + 1):
        try:
            return step.fn(*args)
        except Exception as exc:
            if attempt == retries or not should_retry(step.retry_condition_fn, exc):
                raise
            delay = _delay(step.retry_delay_seconds, attempt)
            log.info(
                "%s: %s; retry %d of %d in %.1f s", step.name, exc, attempt + 1, retries, delay
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _delay(seconds: Any, attempt: int) -> float:
    if isinstance(seconds, list | tuple):
        return float(seconds[min(attempt, len(seconds) - 1)]) if seconds else 0.0
    return float(seconds or 0)


def record_failure(unit_uuid: str, step: str, exc: BaseException) -> None:
    """The failure path of transfers and SIPs: FAILED, with "<step>: <reason>" kept
    (a full filesystem, met anywhere, is said as the location that is full)."""
    reason = space.located(exc) or exc
    Recorder().fail_unit(unit_uuid, f"{step}: {reason}")


def walk(
    unit_uuid: str,
    steps: Iterable[Any],
    *,
    prefect: bool | None = None,
    fail: FailureRecorder = record_failure,
    after: Callable[[Any], None] | None = None,
    timings: dict[str, float] | None = None,
) -> Outcome:
    """Run ``steps`` on the unit in order until one does not return CONTINUE.

    ``after(step)`` runs once a step returned CONTINUE (a hook for work that
    starts in the background, like the transfer's virus pre-scan); ``timings``
    receives seconds per step name. A failure is recorded with ``fail`` and
    re-raised (see the module doc).
    """
    use_prefect = in_flow_run() if prefect is None else prefect
    run_id = submitted_run_id()
    if run_id is not None and not owns_unit(unit_uuid, run_id):
        log.warning("flow run %s: unit %s is driven by another run; stopping", run_id, unit_uuid)
        return Outcome.STOP
    for step in steps:
        name = step_name(step)
        started = time.perf_counter()
        try:
            outcome = _run_step(step, unit_uuid, use_prefect)
            if timings is not None:
                timings[name] = time.perf_counter() - started
            if outcome is not Outcome.CONTINUE:
                return outcome
            if after is not None:
                after(step)
        except Exception as exc:
            fail(unit_uuid, name, exc)
            raise
    return Outcome.CONTINUE


def _run_step(step: Any, unit_uuid: str, use_prefect: bool) -> Outcome:
    """One step, run again after a transient database error (see the module doc)."""
    for attempt in range(DB_RETRIES + 1):
        try:
            return Outcome(call(step, unit_uuid, prefect=use_prefect))
        except Exception as exc:
            if attempt == DB_RETRIES or not is_transient(exc):
                raise
            delay = DB_RETRY_DELAY * 2**attempt
            log.warning(
                "%s: database connection lost (%s); running the step again in %.0f s",
                step_name(step),
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
