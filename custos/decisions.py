"""Decision points: asking, answering, and reading answers.

A flow that reaches a decision first looks in the unit's processing
configuration. When the configuration does not answer it, ``ask`` records a
USER_INPUT job and a Decision with its choices, and the flow ends. ``answer``
stores the choice, closes the job and resubmits the flow, which resumes where it
stopped and finds the answer with ``answered``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from custos.db import get_engine, session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import Decision, Job, JobStatus, Unit, UnitType, utcnow
from custos.recorder import Recorder


@dataclass(frozen=True)
class Choice:
    id: str
    label: str


def answered(unit_uuid: str, name: str, engine: Engine | None = None) -> str | None:
    """The choice id given for the unit's decision ``name``, if answered."""
    with session_scope(engine or get_engine()) as s:
        row = s.exec(
            select(Decision)
            .where(
                col(Decision.unit_uuid) == unit_uuid,
                col(Decision.name) == name,
                col(Decision.choice).is_not(None),
            )
            .order_by(col(Decision.created_at).desc())
        ).first()
        return row.choice if row else None


def pending(unit_uuid: str, name: str, engine: Engine | None = None) -> Decision | None:
    """The unanswered decision ``name`` of the unit, if it is waiting."""
    with session_scope(engine or get_engine()) as s:
        return s.exec(
            select(Decision).where(
                col(Decision.unit_uuid) == unit_uuid,
                col(Decision.name) == name,
                col(Decision.choice).is_(None),
            )
        ).first()


def ask(
    recorder: Recorder,
    unit_uuid: str,
    *,
    microservice: str,
    name: str,
    choices: list[Choice],
    link_uuid: str | None = None,
) -> Decision:
    """Record that the unit waits for a choice (idempotent: an open one is reused)."""
    existing = pending(unit_uuid, name, recorder.engine)
    if existing is not None:
        return existing
    made: list[Decision] = []

    def record(s: Session, job_uuid: str) -> None:  # in the job's own transaction
        decision = Decision(
            unit_uuid=unit_uuid,
            job_uuid=job_uuid,
            name=name,
            link_uuid=link_uuid,
            choices=[{"id": c.id, "label": c.label} for c in choices],
        )
        s.add(decision)
        s.flush()
        made.append(decision)

    recorder.start_job(
        unit_uuid, microservice, name, link_uuid, status=JobStatus.USER_INPUT, with_job=record
    )
    return made[0]


def waiting(engine: Engine | None = None) -> list[dict[str, Any]]:
    """Every unanswered decision with its unit, for listings."""
    with session_scope(engine or get_engine()) as s:
        rows = s.exec(
            select(Decision, Unit)
            .join(Unit, col(Unit.uuid) == col(Decision.unit_uuid))
            .where(col(Decision.choice).is_(None))
            .order_by(col(Decision.created_at))
        ).all()
        return [
            {
                "job_uuid": d.job_uuid,
                "unit_uuid": u.uuid,
                "unit_type": u.unit_type,
                "unit_name": u.name,
                "decision": d.name,
                "link_uuid": d.link_uuid,
                "choices": d.choices,
                "created_at": d.created_at,
            }
            for d, u in rows
        ]


def answer(
    job_uuid: str,
    choice: str,
    *,
    by: str = "",
    recorder: Recorder | None = None,
    resubmit: bool = True,
) -> Decision:
    """Answer the decision waiting at ``job_uuid`` and resume the unit's flow."""
    recorder = recorder or Recorder()
    with session_scope(recorder.engine) as s:
        decision = s.exec(select(Decision).where(col(Decision.job_uuid) == job_uuid)).first()
        if decision is None:
            raise NotFound(f"no decision is waiting at job {job_uuid}")
        if decision.choice is not None:
            raise Conflict(f"the decision at job {job_uuid} was already answered")
        valid = {str(c["id"]) for c in decision.choices}
        if choice not in valid:
            raise InvalidInput(
                f"{choice!r} is not a choice of {decision.name!r}",
                details={"choices": decision.choices},
            )
        decision.choice = choice
        decision.answered_by = by
        decision.answered_at = utcnow()
        s.execute(
            update(Job)
            .where(col(Job.uuid) == job_uuid)
            .values(status=JobStatus.COMPLETE, ended_at=utcnow())
        )
        unit = s.get(Unit, decision.unit_uuid)
        assert unit is not None
        unit_uuid, unit_type = unit.uuid, unit.unit_type
        # its last run ended at the decision: until the resubmission below creates
        # one, the unit has no flow run (never "lost", see custos.reconciler)
        unit.flow_run_id = None
    recorder.refresh_status(unit_uuid)
    if resubmit:
        from custos import dispatch

        dispatch.submit(dispatch.UNIT_FLOWS[UnitType(unit_type)], unit_uuid)
    return decision
