"""The state of the whole system at a glance (the console's dashboard).

``overview()`` reads, in a handful of bounded queries: the units in progress and
the microservice each is in, the decisions waiting (count and oldest), the
recent failures with their reason, the stored AIPs and their total size, the
last fixity audit and any damage it found, and warnings (test-only virus
signatures, a location low on disk space).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from custos import units
from custos.db import get_engine, session_scope
from custos.models import Decision, Job, JobStatus, Location, Package, Unit, UnitStatus, UnitType
from custos.models.storage import PackageStatus
from custos.settings import Settings, get_settings

#: A location with less free space than this (bytes, or fraction of its disk) is named.
LOW_SPACE_BYTES = 1024**3
LOW_SPACE_FRACTION = 0.05
WORK_TYPES = (UnitType.TRANSFER, UnitType.SIP)


@dataclass
class Failure:
    """A unit that failed, with the reason it gives."""

    uuid: str
    name: str
    unit_type: str
    when: datetime
    reason: str


@dataclass
class Overview:
    """Everything the dashboard shows."""

    in_progress: list[units.UnitRow]
    decisions_waiting: int
    oldest_decision: datetime | None
    oldest_decision_unit: str | None
    failures: list[Failure]
    aips_stored: int
    aips_bytes: int
    last_fixity_at: datetime | None
    damaged: list[tuple[str, str, str]] = field(default_factory=list)  # uuid, name, outcome
    warnings: list[str] = field(default_factory=list)


def _failure_reason(s: Session, unit_uuid: str, error: str | None) -> str:
    """The unit's recorded error, else its last failed job and that job's output."""
    if error:
        return error
    job = s.execute(
        sa_select(col(Job.name), col(Job.output))
        .where(col(Job.unit_uuid) == unit_uuid, col(Job.status) == JobStatus.FAILED)
        .order_by(col(Job.seq).desc())
        .limit(1)
    ).first()
    if job is None:
        return "failed (no reason recorded)"
    return f"{job.name}: {job.output}" if job.output else job.name


def disk_warnings(engine: Engine) -> list[str]:
    """A line for each location whose disk is low on free space."""
    lines = []
    with session_scope(engine) as s:
        locations = list(s.exec(select(Location)).all())
    for loc in locations:
        try:
            usage = shutil.disk_usage(loc.path)
        except OSError:
            lines.append(f"location {loc.description or loc.uuid} ({loc.path}) cannot be read")
            continue
        if usage.free < LOW_SPACE_BYTES or usage.free < usage.total * LOW_SPACE_FRACTION:
            free = usage.free / 1024**3
            lines.append(
                f"location {loc.description or loc.uuid} is low on disk space: {free:.1f} GiB free"
            )
    return lines


def overview(
    engine: Engine | None = None, settings: Settings | None = None, failures: int = 10
) -> Overview:
    """The dashboard's figures."""
    engine = engine or get_engine()
    settings = settings or get_settings()
    in_progress = [
        row
        for kind in WORK_TYPES
        for row in units.list_units(
            kind,
            statuses=(UnitStatus.PROCESSING, UnitStatus.USER_INPUT),
            limit=50,
            engine=engine,
        )
    ]
    in_progress.sort(key=lambda r: r.created_at, reverse=True)
    with session_scope(engine) as s:
        waiting, oldest = s.exec(
            select(func.count(), func.min(col(Decision.created_at))).where(
                col(Decision.choice).is_(None)
            )
        ).one()
        oldest_unit = (
            s.exec(
                select(Decision.unit_uuid)
                .where(col(Decision.choice).is_(None))
                .order_by(col(Decision.created_at))
            ).first()
            if waiting
            else None
        )
        # columns, not ORM rows: a unit's ``variables`` JSON decoded per row cost more
        # than the queries
        failed = s.execute(
            sa_select(
                col(Unit.uuid),
                col(Unit.name),
                col(Unit.unit_type),
                col(Unit.updated_at),
                col(Unit.error),
            )
            .where(
                col(Unit.status) == UnitStatus.FAILED,
                col(Unit.unit_type).in_([str(t) for t in WORK_TYPES]),
                col(Unit.hidden).is_(False),
            )
            .order_by(col(Unit.updated_at).desc())
            .limit(failures)
        ).all()
        failure_rows = [
            Failure(
                u.uuid, u.name, str(u.unit_type), u.updated_at, _failure_reason(s, u.uuid, u.error)
            )
            for u in failed
        ]
        count, size = s.exec(
            select(func.count(), func.coalesce(func.sum(col(Package.size)), 0)).where(
                col(Package.status) == PackageStatus.STORED, col(Package.package_type) == "AIP"
            )
        ).one()
        last_fixity = s.exec(select(func.max(col(Package.last_fixity_at)))).one()
        damaged = [
            (p.uuid, p.name, p.last_fixity_outcome or "")
            for p in s.execute(
                sa_select(col(Package.uuid), col(Package.name), col(Package.last_fixity_outcome))
                .where(
                    col(Package.last_fixity_outcome).is_not(None),
                    col(Package.last_fixity_outcome) != "pass",
                    col(Package.status) != PackageStatus.DELETED,
                )
                .limit(50)
            ).all()
        ]
    from custos.virus_signatures import startup_messages

    warnings = [
        line.removeprefix("warning: ")
        for line in startup_messages(settings)
        if line.startswith("warning")
    ]
    warnings += disk_warnings(engine)
    return Overview(
        in_progress=in_progress,
        decisions_waiting=int(waiting or 0),
        oldest_decision=oldest,
        oldest_decision_unit=oldest_unit,
        failures=failure_rows,
        aips_stored=int(count or 0),
        aips_bytes=int(size or 0),
        last_fixity_at=last_fixity,
        damaged=damaged,
        warnings=warnings,
    )
