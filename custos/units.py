"""Reading units for people: lists with the microservice each is in, one unit's
jobs grouped by microservice with their tasks, events and open decisions; hiding
a finished unit. The console (``web``) shows these; ``api.archivematica`` hides
units through ``hide`` too.

Every read is bounded: a list holds at most ``limit`` units (newest first), one
unit's page holds its own jobs (with their task counts) and events, a job's tasks
are read a page at a time (``job_tasks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import NotFound
from custos.models import Decision, Event, File, Job, Task, Unit, UnitStatus, UnitType

#: Statuses of a unit that runs no more (it may be hidden from the lists).
DONE = (UnitStatus.COMPLETE, UnitStatus.FAILED, UnitStatus.REJECTED)


@dataclass(frozen=True)
class UnitRow:
    """One line of a unit list."""

    uuid: str
    name: str
    unit_type: str
    status: str
    microservice: str
    created_at: datetime
    updated_at: datetime
    accession: str | None
    sip_uuid: str | None
    error: str | None

    @property
    def done(self) -> bool:
        """Whether the unit runs no more."""
        return self.status in DONE

    @property
    def in_backlog(self) -> bool:
        """Whether the transfer was sent to the backlog."""
        return self.sip_uuid == "BACKLOG"


def _latest_groups(engine: Engine, uuids: list[str]) -> dict[str, str]:
    """The microservice group of each unit's newest job."""
    if not uuids:
        return {}
    newest = (
        select(col(Job.unit_uuid), func.max(col(Job.seq)).label("seq"))
        .where(col(Job.unit_uuid).in_(uuids))
        .group_by(col(Job.unit_uuid))
        .subquery()
    )
    query = select(col(Job.unit_uuid), col(Job.microservice)).join(
        newest, (newest.c.unit_uuid == col(Job.unit_uuid)) & (newest.c.seq == col(Job.seq))
    )
    with engine.connect() as conn:
        return dict(conn.execute(query).tuples().all())


def list_units(
    unit_type: UnitType | str,
    *,
    statuses: tuple[str, ...] | None = None,
    include_hidden: bool = False,
    backlog: bool | None = None,
    limit: int = 200,
    engine: Engine | None = None,
) -> list[UnitRow]:
    """Units of ``unit_type``, newest first, each with the microservice it is in.

    ``backlog=True`` keeps only transfers sent to the backlog, ``False`` leaves them out.
    """
    engine = engine or get_engine()
    # only the columns a line shows: not ``variables`` (JSON, decoded per row)
    columns = (
        col(Unit.uuid),
        col(Unit.name),
        col(Unit.unit_type),
        col(Unit.status),
        col(Unit.created_at),
        col(Unit.updated_at),
        col(Unit.accession),
        col(Unit.sip_uuid),
        col(Unit.error),
    )
    # ``ix_unit_type_hidden_created`` (or ``ix_unit_status_type_created`` with statuses)
    query = sa_select(*columns).where(col(Unit.unit_type) == str(unit_type))
    if not include_hidden:
        query = query.where(col(Unit.hidden).is_(False))
    if statuses:
        query = query.where(col(Unit.status).in_(statuses))
    if backlog is True:
        query = query.where(col(Unit.sip_uuid) == "BACKLOG")
    query = query.order_by(col(Unit.created_at).desc()).limit(limit)
    with session_scope(engine) as s:
        units = list(s.execute(query).all())
    groups = _latest_groups(engine, [u.uuid for u in units])
    rows = [
        UnitRow(
            uuid=u.uuid,
            name=u.name,
            unit_type=str(u.unit_type),
            status=str(u.status),
            microservice=groups.get(u.uuid, ""),
            created_at=u.created_at,
            updated_at=u.updated_at,
            accession=u.accession,
            sip_uuid=u.sip_uuid,
            error=u.error,
        )
        for u in units
    ]
    if backlog is False:
        rows = [r for r in rows if not r.in_backlog]
    return rows


@dataclass
class TaskView:
    """One task of a job: a command run on one file."""

    uuid: str
    file_name: str
    exit_code: int | None
    arguments: str
    stdout: str
    stderr: str
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def duration(self) -> float | None:
        """Seconds the task ran, when it started and ended."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


@dataclass
class JobView:
    """One job of a unit, with its tasks and, when it waits, its decision."""

    uuid: str
    name: str
    microservice: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    output: str | None
    task_count: int = 0
    decision: dict[str, Any] | None = None


@dataclass
class GroupView:
    """A microservice group and its jobs, in the order they ran."""

    name: str
    jobs: list[JobView]

    @property
    def status(self) -> str:
        """The group's status: awaiting, failed, running or completed."""
        statuses = {j.status for j in self.jobs}
        for status in ("USER_INPUT", "FAILED", "PROCESSING"):
            if status in statuses:
                return status
        return "COMPLETE"


@dataclass
class EventView:
    """A PREMIS event of the unit (or of one of its files)."""

    event_type: str
    event_datetime: datetime
    file_name: str
    outcome: str
    detail: str
    outcome_note: str


@dataclass
class UnitDetail:
    """A unit with everything its page shows."""

    unit: Unit
    groups: list[GroupView]
    events: list[EventView]
    decisions: list[dict[str, Any]]
    sip: Unit | None = None
    transfers: list[Unit] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Whether the unit runs no more."""
        return self.unit.status in DONE


def unit_detail(uuid: str, engine: Engine | None = None, event_limit: int = 2000) -> UnitDetail:
    """The unit ``uuid`` with its jobs grouped by microservice (oldest group first),
    how many tasks each job ran (``job_tasks`` reads them), its events (up to
    ``event_limit``) and its open decisions."""
    engine = engine or get_engine()
    with session_scope(engine) as s:
        unit = s.get(Unit, uuid)
        if unit is None:
            raise NotFound(f"no unit {uuid}")
        jobs = list(
            s.exec(select(Job).where(col(Job.unit_uuid) == uuid).order_by(col(Job.seq))).all()
        )
        counts = dict(
            s.exec(
                select(col(Task.job_uuid), func.count())
                .join(Job, col(Job.uuid) == col(Task.job_uuid))
                .where(col(Job.unit_uuid) == uuid)
                .group_by(col(Task.job_uuid))
            ).all()
        )
        open_decisions = list(
            s.exec(
                select(Decision)
                .where(col(Decision.unit_uuid) == uuid, col(Decision.choice).is_(None))
                .order_by(col(Decision.created_at))
            ).all()
        )
        events = list(
            s.exec(
                select(Event, File.current_path)
                .outerjoin(File, col(File.uuid) == col(Event.file_uuid))
                .where(col(Event.unit_uuid) == uuid)
                .order_by(col(Event.event_datetime))
                .limit(event_limit)
            ).all()
        )
        sip = s.get(Unit, unit.sip_uuid) if unit.sip_uuid and unit.sip_uuid != "BACKLOG" else None
        transfers = (
            list(s.exec(select(Unit).where(col(Unit.sip_uuid) == uuid)).all())
            if unit.unit_type == UnitType.SIP
            else []
        )
    decided = {
        d.job_uuid: {
            "job_uuid": d.job_uuid,
            "name": d.name,
            "choices": d.choices,
            "created_at": d.created_at,
        }
        for d in open_decisions
    }
    groups: list[GroupView] = []
    index: dict[str, GroupView] = {}
    for j in jobs:
        view = JobView(
            j.uuid,
            j.name,
            j.microservice,
            str(j.status),
            j.started_at,
            j.ended_at,
            j.output,
            counts.get(j.uuid, 0),
            decided.get(j.uuid),
        )
        group = index.get(j.microservice)
        if group is None:
            group = index[j.microservice] = GroupView(j.microservice, [])
            groups.append(group)
        group.jobs.append(view)
    return UnitDetail(
        unit=unit,
        groups=groups,
        events=[
            EventView(
                e.event_type, e.event_datetime, path or "", e.outcome, e.detail, e.outcome_note
            )
            for e, path in events
        ],
        decisions=list(decided.values()),
        sip=sip,
        transfers=transfers,
    )


def job_tasks(
    unit_uuid: str, job_uuid: str, offset: int = 0, limit: int = 200, engine: Engine | None = None
) -> tuple[Job, list[TaskView], int]:
    """One job of the unit, ``limit`` of its tasks from ``offset`` (by file), and how
    many it has."""
    with session_scope(engine or get_engine()) as s:
        job = s.get(Job, job_uuid)
        if job is None or job.unit_uuid != unit_uuid:
            raise NotFound(f"no job {job_uuid} in unit {unit_uuid}")
        total = s.exec(select(func.count()).where(col(Task.job_uuid) == job_uuid)).one()
        rows = s.exec(
            select(Task)
            .where(col(Task.job_uuid) == job_uuid)
            .order_by(col(Task.file_name), col(Task.created_at))
            .offset(max(0, offset))
            .limit(limit)
        ).all()
        tasks = [
            TaskView(
                t.uuid,
                t.file_name,
                t.exit_code,
                t.arguments,
                t.stdout,
                t.stderr,
                t.started_at,
                t.ended_at,
            )
            for t in rows
        ]
        return job, tasks, int(total)


def hide(uuid: str, unit_type: UnitType | str | None = None, engine: Engine | None = None) -> bool:
    """Hide a finished unit from the lists; False when it still runs or is hidden.

    A unit that does not exist (or is not of ``unit_type``) is ``NotFound``.
    """
    with session_scope(engine or get_engine()) as s:
        unit = s.get(Unit, uuid)
        if unit is None or (unit_type is not None and unit.unit_type != str(unit_type)):
            raise NotFound(f"no unit {uuid}")
        if unit.hidden or unit.status not in DONE:
            return False
        unit.hidden = True
        return True
