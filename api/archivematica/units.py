"""Unit queries behind the transfer and ingest endpoints (status, listings, hiding).

Statuses come from the recorder's ``derive_status`` (Archivematica's
``get_unit_status`` rules) over the unit's jobs; listings use the status the
recorder caches on the unit, which it derives with the same rules.

The polling endpoints (``status``, ``completed``) are hot paths (clients poll
every few seconds per unit): each is one Core statement over a connection, with
no ORM session, served by an index (see ``docs/archivematica-api.md``).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlmodel import col

from api.archivematica.errors import AMError, error
from custos import units as core_units
from custos.db import get_engine, session_scope
from custos.errors import NotFound
from custos.models import Decision, Job, Unit, UnitStatus, UnitType
from custos.recorder import derive_status

UUID_PATTERN = r"^[\w]{8}(-[\w]{4}){3}-[\w]{12}$"
UUID_RE = re.compile(UUID_PATTERN)

#: Archivematica's transfer type names -> watched-directory names.
TRANSFER_TYPE_DIRS = {
    "standard": "standardTransfer",
    "zipfile": "zippedDirectory",
    "unzipped bag": "baggitDirectory",
    "zipped bag": "baggitZippedDirectory",
    "dspace": "Dspace",
    "maildir": "maildir",
    "TRIM": "TRIM",
    "dataverse": "dataverseTransfer",
}
#: Approval decisions listed by ``transfer/unapproved`` (Archivematica's own subset).
UNAPPROVED_JOBS = {
    "Approve standard transfer": "standard",
    "Approve zipped transfer": "zipfile",
    "Approve DSpace transfer": "dspace",
    "Approve bagit transfer": "unzipped bag",
    "Approve zipped bagit transfer": "zipped bag",
}
DONE = core_units.DONE

API_TYPE = {UnitType.TRANSFER: "transfer", UnitType.SIP: "SIP"}
AM_UNIT_NAME = {UnitType.TRANSFER: "unitTransfer", UnitType.SIP: "unitSIP"}


def directory_name(current_path: str | None, name: str) -> str:
    """The directory name of a unit (``<name>-<uuid>`` once renamed), else its name."""
    if current_path:
        return PurePath(current_path.rstrip("/")).name
    return name


def directory_of(unit: Unit) -> str:
    """The unit's directory name (``<name>-<uuid>`` once renamed)."""
    return directory_name(unit.current_path, unit.name)


def path_as_shown(current_path: str | None) -> str:
    """A unit path as Archivematica shows it (directories end in /)."""
    path = current_path or ""
    if path and not path.endswith("/") and not PurePath(path).suffix:
        path += "/"
    return path


def shown_path(unit: Unit) -> str:
    """The unit's current path as Archivematica shows it (directories end in /)."""
    return path_as_shown(unit.current_path)


#: The status read: the unit's columns joined to each of its jobs, newest first. One
#: statement (compiled once, cached by SQLAlchemy) served by the primary key and
#: ``ix_job_unit_uuid_seq``; Core rows, no ORM identity map or session.
_STATUS_QUERY = (
    select(
        col(Unit.unit_type),
        col(Unit.name),
        col(Unit.current_path),
        col(Unit.sip_uuid),
        col(Job.name),
        col(Job.microservice),
        col(Job.status),
    )
    .select_from(Unit)
    .outerjoin(Job, col(Job.unit_uuid) == col(Unit.uuid))
    .where(col(Unit.uuid) == bindparam("unit_uuid"))
    .order_by(col(Job.seq).desc())
)


class _Subject(NamedTuple):
    """The two columns ``derive_status`` reads (no ORM object on the hot path)."""

    unit_type: str
    sip_uuid: str | None


def unit_status(unit_uuid: str, unit_type: UnitType) -> dict[str, Any]:
    """The status object of ``transfer/status`` / ``ingest/status``, or a 400.

    The status follows Archivematica's ``get_unit_status`` rules
    (``custos.recorder.derive_status``) over every job of the unit.
    """
    with get_engine().connect() as conn:
        rows = conn.execute(_STATUS_QUERY, {"unit_uuid": unit_uuid}).all()
    if not rows or rows[0][0] != unit_type:
        raise AMError(
            400,
            {
                "type": API_TYPE[unit_type],
                "message": f"Cannot fetch {AM_UNIT_NAME[unit_type]} with UUID {unit_uuid}",
                "error": True,
            },
        )
    _type, name, current_path, sip_uuid = rows[0][:4]
    jobs = [(r[4], r[5], r[6]) for r in rows if r[4] is not None]
    info = derive_status(_Subject(unit_type, sip_uuid), jobs)
    if info is None:
        raise error(400, f"Unable to determine the status of the unit {unit_uuid}")
    body: dict[str, Any] = {
        "type": API_TYPE[unit_type],
        "path": path_as_shown(current_path),
        "directory": directory_name(current_path, name),
        "name": name,
        "uuid": unit_uuid,
        "microservice": info.microservice,
        "status": str(info.status),
    }
    if info.sip_uuid is not None:
        body["sip_uuid"] = info.sip_uuid
    body["message"] = f"Fetched status for {unit_uuid} successfully."
    return body


_COMPLETED_QUERY = (
    select(col(Unit.uuid))
    .where(
        col(Unit.status) == UnitStatus.COMPLETE,
        col(Unit.unit_type) == bindparam("unit_type"),
        col(Unit.hidden).is_(False),
    )
    .order_by(col(Unit.created_at))
)


def completed(unit_type: UnitType) -> list[str]:
    """UUIDs of visible units whose status is COMPLETE, oldest first.

    Reads the status the recorder caches on each unit (same rules as
    ``unit_status``) through ``ix_unit_status_type_created``: no per-unit job scan.
    """
    with get_engine().connect() as conn:
        return list(conn.execute(_COMPLETED_QUERY, {"unit_type": str(unit_type)}).scalars())


def hide(unit_uuid: str, unit_type: UnitType) -> bool:
    """Hide a finished unit; False when it is still running or already hidden."""
    try:
        return core_units.hide(unit_uuid, unit_type)
    except NotFound:
        raise AMError(404, {"removed": False}) from None


def hide_all(unit_type: UnitType) -> list[str]:
    """Hide every visible completed or failed unit; returns their UUIDs."""
    with session_scope() as s:
        uuids = list(
            s.execute(
                select(col(Unit.uuid)).where(
                    col(Unit.unit_type) == unit_type,
                    col(Unit.hidden).is_(False),
                    col(Unit.status).in_(DONE),
                )
            ).scalars()
        )
        if uuids:
            s.execute(update(Unit).where(col(Unit.uuid).in_(uuids)).values(hidden=True))
        return uuids


def waiting_decisions(
    unit_types: tuple[UnitType, ...] = (UnitType.TRANSFER, UnitType.SIP),
) -> list[tuple[Decision, Unit, Job]]:
    """Unanswered decisions of visible units, oldest first, with unit and job."""
    with session_scope() as s:
        rows = s.execute(
            select(Decision, Unit, Job)
            .join(Unit, col(Unit.uuid) == col(Decision.unit_uuid))
            .join(Job, col(Job.uuid) == col(Decision.job_uuid))
            .where(col(Decision.choice).is_(None), col(Unit.unit_type).in_(unit_types))
            .order_by(col(Decision.created_at))
        ).all()
        return [(d, u, j) for d, u, j in rows]


def unapproved() -> list[dict[str, str]]:
    """Transfers waiting at one of the listed approval decisions."""
    results = []
    for decision, unit, _job in waiting_decisions((UnitType.TRANSFER,)):
        kind = UNAPPROVED_JOBS.get(decision.name)
        if kind is not None:
            results.append({"type": kind, "directory": directory_of(unit), "uuid": unit.uuid})
    return results


def waiting() -> list[dict[str, str]]:
    """Every unit waiting at a decision (transfers and SIPs, as Archivematica)."""
    return [
        {
            "sip_directory": directory_of(unit),
            "sip_uuid": unit.uuid,
            "sip_name": unit.name,
            "microservice": job.name,
        }
        for _decision, unit, job in waiting_decisions()
    ]
