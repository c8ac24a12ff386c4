"""The recorder: the one writer of jobs, tasks, events and unit status.

Microservices call it to open a job, hand over per-file task rows and PREMIS
events in bulk (one transaction per batch, never one per file), and close the job.
The unit's status is then derived from its jobs with Archivematica's rules
(``derive_status``), so every API dialect reports the same truth.

Example::

    rec = Recorder()
    with rec.job(unit_uuid, "Scan for viruses", "Scan for viruses in directories") as job:
        for f in files:
            job.task(file_uuid=f.uuid, file_name=f.path, exit_code=0, stdout="OK")
            job.event(file_uuid=f.uuid, event_type="virus check", outcome="Pass")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from custos.db import get_engine, session_scope
from custos.faults import fault
from custos.models import (
    Agent,
    Event,
    EventAgent,
    File,
    Job,
    JobStatus,
    Task,
    Unit,
    UnitStatus,
    UnitType,
    new_uuid,
    utcnow,
)

BATCH_SIZE = 5000
REMOVE_PROCESSING_DIR = "Remove the processing directory"
CREATE_SIP_JOB = "Create SIP from transfer objects"
BACKLOG_JOB = "Move transfer to backlog"


@dataclass(frozen=True)
class AgentSpec:
    """A PREMIS agent, identified by (type, value)."""

    identifier_type: str
    identifier_value: str
    name: str
    agent_type: str


@dataclass
class UnitStatusInfo:
    """What Archivematica's status endpoints report about a unit."""

    status: UnitStatus
    microservice: str
    sip_uuid: str | None = None


@dataclass
class JobHandle:
    """An open job collecting task rows and events until it closes."""

    uuid: str
    unit_uuid: str
    recorder: Recorder
    tasks: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    output: str | None = None
    new_files: list[dict[str, Any]] = field(default_factory=list)
    file_changes: list[dict[str, Any]] = field(default_factory=list)

    def task(
        self,
        *,
        file_uuid: str | None = None,
        file_name: str = "",
        exit_code: int = 0,
        arguments: str = "",
        stdout: str = "",
        stderr: str = "",
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> str:
        """Queue one task row; rows are written in bulk when the job closes."""
        now = utcnow()
        row = {
            "uuid": new_uuid(),
            "job_uuid": self.uuid,
            "file_uuid": file_uuid,
            "file_name": file_name,
            "exit_code": exit_code,
            "arguments": arguments,
            "stdout": stdout,
            "stderr": stderr,
            "created_at": started_at or now,
            "started_at": started_at or now,
            "ended_at": ended_at or now,
        }
        self.tasks.append(row)
        if len(self.tasks) >= BATCH_SIZE:
            self.flush()
        return str(row["uuid"])

    def event(
        self,
        *,
        event_type: str,
        file_uuid: str | None = None,
        detail: str = "",
        outcome: str = "",
        outcome_note: str = "",
        event_datetime: datetime | None = None,
        agents: Sequence[AgentSpec] | None = None,
        uuid: str | None = None,
    ) -> str:
        """Queue one PREMIS event (with the default agents unless given).

        ``uuid`` keeps an identifier the event already has (events imported from a
        transfer's premis.xml); by default the event gets a new one.
        """
        row = {
            "uuid": uuid or new_uuid(),
            "unit_uuid": self.unit_uuid,
            "file_uuid": file_uuid,
            "event_type": event_type,
            "event_datetime": event_datetime or utcnow(),
            "detail": detail,
            "outcome": outcome,
            "outcome_note": outcome_note,
            "_agents": agents,
        }
        self.events.append(row)
        if len(self.events) >= BATCH_SIZE:
            self.flush()
        return str(row["uuid"])

    def add_files(self, rows: Iterable[dict[str, Any]]) -> list[str]:
        """Queue File rows to insert when the job completes, in the transaction that
        completes it (a crash before leaves none); returns their uuids."""
        queued = []
        for f in rows:
            row = dict(f)
            row.setdefault("uuid", new_uuid())
            row.setdefault("created_at", utcnow())
            queued.append(row)
        self.new_files += queued
        return [r["uuid"] for r in queued]

    def update_files(self, changes: Iterable[dict[str, Any]]) -> None:
        """Queue File row changes (``uuid`` and new values) for the completing
        transaction, after the queued inserts."""
        self.file_changes += list(changes)

    def flush(self) -> None:
        """Write queued tasks and events in one transaction."""
        self.recorder.write_bulk(self.tasks, self.events)
        self.tasks = []
        self.events = []


class Recorder:
    """Writes jobs, tasks, events and unit status for one database."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or get_engine()
        self._agent_ids: dict[AgentSpec, int] = {}
        self._lock = threading.Lock()
        self.default_agents: tuple[AgentSpec, ...] = default_agents()

    # -- jobs ---------------------------------------------------------------
    def start_job(
        self,
        unit_uuid: str,
        microservice: str,
        name: str,
        link_uuid: str | None = None,
        status: JobStatus = JobStatus.PROCESSING,
        output: str | None = None,
        with_job: Callable[[Session, str], None] | None = None,
    ) -> str:
        """Create a job row for the unit and return its uuid (the unit's status is
        brought up to date in the same transaction). ``with_job(session, job_uuid)``
        adds rows that must be committed with it (a decision with its USER_INPUT job:
        a reader never sees the unit waiting without the decision it waits for)."""
        with session_scope(self.engine) as s:
            unit = s.get(Unit, unit_uuid)
            if unit is None:
                raise LookupError(f"unit {unit_uuid} does not exist")
            seq = s.execute(
                select(func.coalesce(func.max(col(Job.seq)), 0)).where(
                    col(Job.unit_uuid) == unit_uuid
                )
            ).scalar_one()
            now = utcnow()
            job = Job(
                unit_uuid=unit_uuid,
                unit_type=unit.unit_type,
                microservice=microservice,
                name=name,
                link_uuid=link_uuid,
                status=status,
                seq=int(seq) + 1,
                created_at=now,
                started_at=now,
                ended_at=now if status in (JobStatus.COMPLETE, JobStatus.FAILED) else None,
                output=output,
            )
            s.add(job)
            unit.updated_at = now
            s.flush()
            job_uuid = job.uuid
            if with_job is not None:
                with_job(s, job_uuid)
            self._refresh_in(s, unit_uuid)
        return job_uuid

    def finish_job(self, job_uuid: str, status: JobStatus, output: str | None = None) -> None:
        """Close a job as COMPLETE or FAILED and update the unit's status."""
        with session_scope(self.engine) as s:
            job = s.get(Job, job_uuid)
            if job is None:
                raise LookupError(f"job {job_uuid} does not exist")
            job.status = status
            job.ended_at = utcnow()
            if output is not None:
                job.output = output[-20000:]
            s.flush()
            self._refresh_in(s, job.unit_uuid)

    @contextmanager
    def job(
        self, unit_uuid: str, microservice: str, name: str, link_uuid: str | None = None
    ) -> Iterator[JobHandle]:
        """Run a block as one job: COMPLETE when it returns, FAILED when it raises."""
        handle = JobHandle(
            self.start_job(unit_uuid, microservice, name, link_uuid), unit_uuid, self
        )
        try:
            yield handle
        except BaseException as exc:
            handle.flush()
            self.finish_job(handle.uuid, JobStatus.FAILED, output=f"{type(exc).__name__}: {exc}")
            raise
        fault("job:events-written")
        # the last tasks and events and the COMPLETE status in one transaction: a crash
        # leaves either all of them or the job still PROCESSING, redone without doubles
        self.write_bulk(
            handle.tasks,
            handle.events,
            finish=(handle.uuid, handle.output),
            new_files=handle.new_files,
            file_changes=handle.file_changes,
            refresh=unit_uuid,
        )
        handle.tasks, handle.events, handle.new_files, handle.file_changes = [], [], [], []

    def record_job(
        self,
        unit_uuid: str,
        microservice: str,
        name: str,
        link_uuid: str | None = None,
        status: JobStatus = JobStatus.COMPLETE,
        output: str | None = None,
    ) -> str:
        """A job that is done the moment it is written (moves, renames, skips)."""
        return self.start_job(unit_uuid, microservice, name, link_uuid, status, output)

    def completed_jobs(self, unit_uuid: str) -> set[str]:
        """Names of the unit's COMPLETE jobs: what a resumed flow may skip."""
        with session_scope(self.engine) as s:
            rows = s.execute(
                select(col(Job.name)).where(
                    col(Job.unit_uuid) == unit_uuid, col(Job.status) == JobStatus.COMPLETE
                )
            ).scalars()
            return set(rows)

    # -- bulk rows ----------------------------------------------------------
    def write_bulk(
        self,
        tasks: list[dict[str, Any]],
        events: list[dict[str, Any]],
        *,
        finish: tuple[str, str | None] | None = None,
        new_files: list[dict[str, Any]] | None = None,
        file_changes: list[dict[str, Any]] | None = None,
        refresh: str | None = None,
    ) -> None:
        """Insert task and event rows in one transaction (executemany).

        Each row carries every column of its table, as ``JobHandle.task`` and
        ``JobHandle.event`` build them (an event's ``_agents`` is optional).
        ``finish=(job_uuid, output)`` also marks that job COMPLETE in the same
        transaction, after inserting ``new_files`` and applying ``file_changes``
        (``JobHandle.add_files``, ``JobHandle.update_files``); ``refresh`` names a
        unit whose status is then brought up to date, still in that transaction.
        """
        if not tasks and not events and finish is None and refresh is None:
            return
        links: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for ev in events:
            agents = ev.get("_agents") or self.default_agents
            row = {k: v for k, v in ev.items() if k != "_agents"}
            event_rows.append(row)
            for spec in agents:
                links.append({"event_uuid": row["uuid"], "agent_id": self.agent_id(spec)})
        # Core executemany on the tables: every row carries every column, so the
        # ORM's bulk-insert bookkeeping (per-row defaults, identity) adds nothing.
        with session_scope(self.engine) as s:
            conn = s.connection()
            if tasks:
                conn.execute(insert(Task.__table__), tasks)  # type: ignore[attr-defined]
            if event_rows:
                conn.execute(insert(Event.__table__), event_rows)  # type: ignore[attr-defined]
            if links:
                conn.execute(insert(EventAgent.__table__), links)  # type: ignore[attr-defined]
            for i in range(0, len(new_files or []), BATCH_SIZE):
                s.execute(insert(File), (new_files or [])[i : i + BATCH_SIZE])
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for change in file_changes or []:  # one executemany per set of columns
                by_keys.setdefault(tuple(sorted(change)), []).append(change)
            for group in by_keys.values():
                for i in range(0, len(group), BATCH_SIZE):
                    s.execute(update(File), group[i : i + BATCH_SIZE])
            if finish is not None:
                job_uuid, output = finish
                values: dict[str, Any] = {"status": JobStatus.COMPLETE, "ended_at": utcnow()}
                if output is not None:
                    values["output"] = output[-20000:]
                conn.execute(update(Job).where(col(Job.uuid) == job_uuid).values(**values))
            if refresh is not None:
                self._refresh_in(s, refresh)

    def add_files(self, files: Iterable[dict[str, Any]]) -> list[str]:
        """Insert File rows in bulk; returns their uuids."""
        rows = []
        for f in files:
            row = dict(f)
            row.setdefault("uuid", new_uuid())
            row.setdefault("created_at", utcnow())
            rows.append(row)
        for i in range(0, len(rows), BATCH_SIZE):
            with session_scope(self.engine) as s:
                s.execute(insert(File), rows[i : i + BATCH_SIZE])
        return [r["uuid"] for r in rows]

    def update_files(self, changes: Iterable[dict[str, Any]]) -> None:
        """Bulk UPDATE of File rows; each dict holds ``uuid`` and the new values."""
        rows = list(changes)
        for i in range(0, len(rows), BATCH_SIZE):
            with session_scope(self.engine) as s:
                s.execute(update(File), rows[i : i + BATCH_SIZE])

    def agent_id(self, spec: AgentSpec) -> int:
        """The id of an agent row, created on first use and cached.

        Flow runs in other processes may create the same agent at the same instant:
        the unique index on its identifier keeps one row, and the loser reads it.
        """
        with self._lock:
            cached = self._agent_ids.get(spec)
            if cached is not None:
                return cached
            found = self._find_agent(spec)
            if found is None:
                try:
                    with session_scope(self.engine) as s:
                        s.add(
                            Agent(
                                identifier_type=spec.identifier_type,
                                identifier_value=spec.identifier_value,
                                name=spec.name,
                                agent_type=spec.agent_type,
                            )
                        )
                except IntegrityError:
                    pass  # created meanwhile by another process
                found = self._find_agent(spec)
            assert found is not None
            self._agent_ids[spec] = found
            return found

    def _find_agent(self, spec: AgentSpec) -> int | None:
        with session_scope(self.engine) as s:
            found: int | None = s.execute(
                select(col(Agent.id)).where(
                    col(Agent.identifier_type) == spec.identifier_type,
                    col(Agent.identifier_value) == spec.identifier_value,
                )
            ).scalar_one_or_none()
            return found

    # -- status -------------------------------------------------------------
    def status_info(self, unit_uuid: str) -> UnitStatusInfo | None:
        """Archivematica's status of a unit, or None when it has no job yet."""
        with session_scope(self.engine) as s:
            unit = s.get(Unit, unit_uuid)
            if unit is None:
                raise LookupError(f"unit {unit_uuid} does not exist")
            jobs = list(
                s.execute(
                    select(col(Job.name), col(Job.microservice), col(Job.status))
                    .where(col(Job.unit_uuid) == unit_uuid)
                    .order_by(col(Job.seq).desc())
                ).all()
            )
            return derive_status(unit, [(j[0], j[1], j[2]) for j in jobs])

    def refresh_status(self, unit_uuid: str) -> UnitStatus | None:
        """Recompute and cache the unit's status from its jobs."""
        with session_scope(self.engine) as s:
            return self._refresh_in(s, unit_uuid)

    @staticmethod
    def _refresh_in(s: Session, unit_uuid: str) -> UnitStatus | None:
        """``refresh_status`` inside the caller's transaction: one read of the unit's
        jobs, one write of its status (none while it has no job)."""
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise LookupError(f"unit {unit_uuid} does not exist")
        jobs = s.execute(
            select(col(Job.name), col(Job.microservice), col(Job.status))
            .where(col(Job.unit_uuid) == unit_uuid)
            .order_by(col(Job.seq).desc())
        ).all()
        info = derive_status(unit, [(j[0], j[1], j[2]) for j in jobs])
        if info is None:
            return None
        s.execute(
            update(Unit)
            .where(col(Unit.uuid) == unit_uuid)
            .values(status=info.status, updated_at=utcnow())
        )
        return info.status

    def fail_unit(self, unit_uuid: str, message: str) -> None:
        """Send a unit down Archivematica's failure path (status FAILED)."""
        unit_type = self._unit_type(unit_uuid)
        group = "Failed SIP" if unit_type == UnitType.SIP else "Failed transfer"
        name = "Cleanup failed SIP" if unit_type == UnitType.SIP else "Cleanup failed Transfer"
        if unit_type == UnitType.CAPTURE:
            group, name = "Failed capture", "Capture failed"
        with session_scope(self.engine) as s:
            s.execute(update(Unit).where(col(Unit.uuid) == unit_uuid).values(error=message[-4000:]))
        self.record_job(unit_uuid, group, name, status=JobStatus.FAILED, output=message)

    def reject_unit(self, unit_uuid: str, group: str | None = None) -> None:
        """Record a rejection (status REJECTED)."""
        unit_type = self._unit_type(unit_uuid)
        group = group or ("Reject SIP" if unit_type == UnitType.SIP else "Reject transfer")
        self.record_job(unit_uuid, group, "Move to the rejected directory")

    def _unit_type(self, unit_uuid: str) -> UnitType:
        with session_scope(self.engine) as s:
            unit = s.get(Unit, unit_uuid)
            if unit is None:
                raise LookupError(f"unit {unit_uuid} does not exist")
            return UnitType(unit.unit_type)


class StatusSubject(Protocol):
    """What ``derive_status`` reads of a unit (a ``Unit`` row, or a plain tuple of both)."""

    @property
    def unit_type(self) -> str: ...

    @property
    def sip_uuid(self) -> str | None: ...


def derive_status(
    unit: StatusSubject, jobs_newest_first: Sequence[tuple[str, str, str]]
) -> UnitStatusInfo | None:
    """Archivematica's ``get_unit_status`` rules, in their exact order.

    ``jobs_newest_first`` holds (name, microservice group, status) of every job.
    """
    if not jobs_newest_first:
        return None
    name, group, job_status = jobs_newest_first[0]
    names = {j[0] for j in jobs_newest_first}
    sip_uuid: str | None = None
    if job_status == JobStatus.USER_INPUT:
        status = UnitStatus.USER_INPUT
    elif "failed" in group.lower() or job_status == JobStatus.FAILED:
        status = UnitStatus.FAILED
    elif "reject" in group.lower():
        status = UnitStatus.REJECTED
    elif name == REMOVE_PROCESSING_DIR:
        status = UnitStatus.COMPLETE
    elif CREATE_SIP_JOB in names:
        status = UnitStatus.PROCESSING
        if unit.sip_uuid and unit.sip_uuid != "BACKLOG":
            status, sip_uuid = UnitStatus.COMPLETE, unit.sip_uuid
    elif BACKLOG_JOB in names:
        status, sip_uuid = UnitStatus.COMPLETE, "BACKLOG"
    else:
        status = UnitStatus.PROCESSING
    if (
        unit.unit_type == UnitType.SIP
        and status == UnitStatus.PROCESSING
        and REMOVE_PROCESSING_DIR in names
    ):
        status = UnitStatus.COMPLETE
    return UnitStatusInfo(status=status, microservice=name, sip_uuid=sip_uuid)


def default_agents(user: str | None = None) -> tuple[AgentSpec, ...]:
    """The agents of every event: Custos itself, the organization, and the user."""
    from custos import __version__
    from custos.settings import get_settings

    settings = get_settings()
    agents = [
        AgentSpec("preservation system", f"Custos-{__version__}", "Custos", "software"),
        AgentSpec("repository code", settings.org_code, settings.org_name, "organization"),
    ]
    if user:
        agents.append(AgentSpec("Custos user", user, f'username="{user}"', "Custos user"))
    return tuple(agents)
