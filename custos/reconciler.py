"""Finding lost units and starting them again.

A unit is lost when it is ``PROCESSING``, nothing happened to it for a grace
period, and the flow run that was driving it is no longer alive (killed process,
restarted machine). Because every microservice step skips what is already
``COMPLETE`` and is restartable at any point (see ``docs/durability.md``),
resubmitting the unit's flow finishes it instead of failing it.

``is_alive(run_id)`` answers with a ``Verdict`` (a plain bool is read as ALIVE or
LOST). Two kinds of loss are counted apart, each in a row without progress (no
new kind of job completed since the previous loss):

- ``LOST``: the run died while the service stayed up (its process killed, a
  worker gone). ``MAX_ATTEMPTS`` of them fail the unit, so a flow that kills its
  own process every time cannot loop forever.
- ``RESTARTED``: the whole service went down under it (``custos serve`` killed or
  the machine restarted: its runner is not the one running now). That is not the
  unit's fault: only ``MAX_RESTARTS`` of them in a row without progress fail it
  (a unit that brings the whole service down every time still ends).

A ``PROCESSING`` unit without any flow run (``flow_run_id`` empty: an answer or
approval was recorded but the submission failed, or the process died before it)
was never started, so it is not lost: it is submitted after the same grace
period and not counted.

``reconcile`` is pure with respect to Prefect: it is given ``is_alive``, which
``flows/reconcile.py`` builds from Prefect (``custos.runtime.liveness``) or the
inline backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine, func, update
from sqlmodel import col, select

from custos import dispatch
from custos.db import session_scope
from custos.models import Job, JobStatus, Unit, UnitStatus, UnitType, utcnow
from custos.recorder import Recorder

log = logging.getLogger(__name__)

UNIT_FLOWS = dispatch.UNIT_FLOWS
MAX_ATTEMPTS = 3
MAX_RESTARTS = 10
DEFAULT_GRACE = timedelta(seconds=15)
ATTEMPTS_KEY = "reconcile_attempts"
RESTARTS_KEY = "reconcile_restarts"
#: Kinds of job COMPLETE at the last loss (progress since then resets the count).
PROGRESS_KEY = "reconcile_progress"


class Verdict(StrEnum):
    """What became of a unit's flow run."""

    ALIVE = "alive"  # it runs, or a runner or worker will pick it up
    LOST = "lost"  # it died while the service stayed up: counts against the unit
    RESTARTED = "restarted"  # the whole service went down under it: does not count


#: ``is_alive(run_id)``: a ``Verdict``, or a bool (True: ALIVE, False: LOST).
Liveness = Callable[[str], Verdict | bool]


def verdict_of(is_alive: Liveness, run_id: str) -> Verdict:
    """``is_alive``'s answer as a ``Verdict``."""
    answer = is_alive(run_id)
    if isinstance(answer, Verdict):
        return answer
    return Verdict.ALIVE if answer else Verdict.LOST


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def last_activity(unit: Unit) -> datetime:
    """The newest of the unit's creation, submission and last status change."""
    return max(_aware(unit.created_at), _aware(unit.updated_at), _aware(unit.submitted_at))


def lost_units(
    engine: Engine,
    is_alive: Liveness,
    *,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
) -> list[tuple[Unit, Verdict | None]]:
    """Units PROCESSING, quiet for ``grace``, whose flow run is not alive (with the
    verdict) or that have none (never submitted: verdict None)."""
    now = now or utcnow()
    types = list(UNIT_FLOWS)
    with session_scope(engine) as s:
        candidates = list(
            s.exec(
                select(Unit).where(
                    col(Unit.status) == UnitStatus.PROCESSING, col(Unit.unit_type).in_(types)
                )
            ).all()
        )
    lost: list[tuple[Unit, Verdict | None]] = []
    for unit in candidates:
        if now - last_activity(unit) < grace:
            continue
        if not unit.flow_run_id:
            lost.append((unit, None))
            continue
        verdict = verdict_of(is_alive, unit.flow_run_id)
        if verdict is not Verdict.ALIVE:
            lost.append((unit, verdict))
    return lost


def progress(engine: Engine, unit_uuid: str) -> int:
    """How many kinds of job (names) the unit has COMPLETE: grows only with progress
    (a step that kills its process every time adds a PROCESSING job, not one of these)."""
    with session_scope(engine) as s:
        return int(
            s.execute(
                select(func.count(func.distinct(col(Job.name)))).where(
                    col(Job.unit_uuid) == unit_uuid, col(Job.status) == JobStatus.COMPLETE
                )
            ).scalar_one()
        )


def _claim(engine: Engine, unit: Unit, now: datetime, verdict: Verdict | None) -> int | None:
    """Mark the unit as being resubmitted and return its count of losses of this
    kind in a row without progress (0 when never submitted); None when another
    reconciler got there first."""
    variables = dict(unit.variables or {})
    attempts = 0
    if verdict is not None:
        key = RESTARTS_KEY if verdict is Verdict.RESTARTED else ATTEMPTS_KEY
        done = progress(engine, unit.uuid)
        if PROGRESS_KEY in variables and done > int(variables[PROGRESS_KEY]):
            # it got further since its last loss: both counts start again
            variables.pop(ATTEMPTS_KEY, None)
            variables.pop(RESTARTS_KEY, None)
        attempts = int(variables.get(key, 0)) + 1
        variables.update({key: attempts, PROGRESS_KEY: done})
    cond = (
        col(Unit.submitted_at).is_(None)
        if unit.submitted_at is None
        else col(Unit.submitted_at) == unit.submitted_at
    )
    with session_scope(engine) as s:
        result = s.execute(
            update(Unit)
            .where(col(Unit.uuid) == unit.uuid, cond)
            .values(submitted_at=now, variables=variables)
        )
        return attempts if result.rowcount == 1 else None  # type: ignore[attr-defined]


def reconcile(
    engine: Engine,
    is_alive: Liveness,
    *,
    grace: timedelta = DEFAULT_GRACE,
    submit: Callable[..., str] = dispatch.submit,
    now: datetime | None = None,
) -> list[str]:
    """Resubmit every lost unit; returns the uuids resubmitted.

    Example::

        reconcile(get_engine(), dispatch.inline_backend().is_alive)
    """
    now = now or utcnow()
    resubmitted: list[str] = []
    for unit, verdict in lost_units(engine, is_alive, grace=grace, now=now):
        lost = verdict is not None
        attempts = _claim(engine, unit, now, verdict)
        if attempts is None:
            continue
        restarted = verdict is Verdict.RESTARTED
        if lost and attempts > (MAX_RESTARTS if restarted else MAX_ATTEMPTS):
            log.error("unit %s lost %d times: failing it", unit.uuid, attempts - 1)
            why = (
                "the whole service went down under it"
                if restarted
                else "its process was killed while the service stayed up"
            )
            Recorder(engine).fail_unit(
                unit.uuid,
                f"lost its flow run {attempts - 1} times in a row without progress ({why}); "
                "not resubmitted again",
            )
            continue
        flow_name = UNIT_FLOWS[UnitType(unit.unit_type)]
        if lost:
            log.warning(
                "unit %s (%s) lost its flow run %s (%s): resubmitting %s (attempt %d)",
                unit.uuid,
                unit.unit_type,
                unit.flow_run_id,
                verdict,
                flow_name,
                attempts,
            )
        else:
            log.warning(
                "unit %s (%s) has no flow run (its submission failed): submitting %s",
                unit.uuid,
                unit.unit_type,
                flow_name,
            )
        submit(flow_name, unit.uuid)
        resubmitted.append(unit.uuid)
    return resubmitted
