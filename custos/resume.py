"""Resuming a failed unit once its cause is fixed (a full disk freed, a tool repaired).

A failed transfer or SIP keeps its folder and its job history (``Recorder.fail_unit``),
and every step skips the jobs the unit already completed, so running its flow again
redoes only the step that failed and what follows. ``resume_unit`` records a
*Resume after failure* job (the unit is PROCESSING again: its status follows its
newest job), resets the reconciler's count of losses, and submits the unit's flow.

Example::

    resume_unit(unit_uuid)     # `custos resume <uuid>`
"""

from __future__ import annotations

from sqlalchemy import Engine

from custos import dispatch
from custos.db import get_engine, session_scope
from custos.errors import Conflict, NotFound
from custos.models import Unit, UnitStatus, UnitType
from custos.reconciler import ATTEMPTS_KEY, PROGRESS_KEY
from custos.recorder import Recorder

GROUP = "Resume"
JOB = "Resume after failure"


def check_resumable(unit: Unit | None, unit_uuid: str) -> UnitType:
    """The unit's type; ``NotFound`` for an unknown unit, ``Conflict`` for one that
    is not FAILED or that no flow resumes (a capture is captured again instead)."""
    if unit is None:
        raise NotFound(f"unit {unit_uuid} does not exist")
    if unit.status != UnitStatus.FAILED:
        raise Conflict(f"unit {unit_uuid} is {unit.status}, not FAILED: nothing to resume")
    kind = UnitType(unit.unit_type)
    if kind not in (UnitType.TRANSFER, UnitType.SIP):
        raise Conflict(f"a {kind} unit is not resumed; start it again instead")
    return kind


def resume_unit(unit_uuid: str, engine: Engine | None = None) -> str:
    """Resume a FAILED transfer or SIP; returns the new flow run id (see
    ``check_resumable`` for the refusals)."""
    engine = engine or get_engine()
    with session_scope(engine) as s:
        unit = s.get(Unit, unit_uuid)
        kind = check_resumable(unit, unit_uuid)
        assert unit is not None
        error = unit.error or "unknown"
        variables = {
            k: v for k, v in (unit.variables or {}).items() if k not in (ATTEMPTS_KEY, PROGRESS_KEY)
        }
        unit.variables, unit.error = variables, None
    Recorder(engine).record_job(unit_uuid, GROUP, JOB, output=f"resumed after: {error}"[:4000])
    return dispatch.submit(dispatch.UNIT_FLOWS[kind], unit_uuid)
