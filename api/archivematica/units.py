"""Unit queries behind the transfer and ingest endpoints (status, listings, hiding).

Statuses come from the recorder's ``derive_status`` (Archivematica's
``get_unit_status`` rules) over the unit's jobs; listings use the status the
recorder caches on the unit, which it derives with the same rules.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from api.archivematica.errors import AMError, error
from custos.db import session_scope
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
DONE = (UnitStatus.COMPLETE, UnitStatus.FAILED, UnitStatus.REJECTED)

API_TYPE = {UnitType.TRANSFER: "transfer", UnitType.SIP: "SIP"}
AM_UNIT_NAME = {UnitType.TRANSFER: "unitTransfer", UnitType.SIP: "unitSIP"}


def directory_of(unit: Unit) -> str:
    """The unit's directory name (``<name>-<uuid>`` once renamed)."""
    if unit.current_path:
        return PurePath(unit.current_path.rstrip("/")).name
    return unit.name


def shown_path(unit: Unit) -> str:
    """The unit's current path as Archivematica shows it (directories end in /)."""
    path = unit.current_path or ""
    if path and not path.endswith("/") and not PurePath(path).suffix:
        path += "/"
    return path


def unit_status(unit_uuid: str, unit_type: UnitType) -> dict[str, Any]:
    """The status object of ``transfer/status`` / ``ingest/status``, or a 400."""
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None or unit.unit_type != unit_type:
            raise AMError(400, {"type": API_TYPE[unit_type],
                                "message": f"Cannot fetch {AM_UNIT_NAME[unit_type]} with "
                                           f"UUID {unit_uuid}", "error": True})
        jobs = s.execute(
            select(col(Job.name), col(Job.microservice), col(Job.status))
            .where(col(Job.unit_uuid) == unit_uuid).order_by(col(Job.seq).desc())
        ).all()
        info = derive_status(unit, [(j[0], j[1], j[2]) for j in jobs])
        if info is None:
            raise error(400, f"Unable to determine the status of the unit {unit_uuid}")
        directory = directory_of(unit)
        body: dict[str, Any] = {
            "type": API_TYPE[unit_type],
            "path": shown_path(unit),
            "directory": directory,
            "name": unit.name,
            "uuid": unit.uuid,
            "microservice": info.microservice,
            "status": str(info.status),
        }
        if info.sip_uuid is not None:
            body["sip_uuid"] = info.sip_uuid
        body["message"] = f"Fetched status for {unit_uuid} successfully."
        return body


def completed(unit_type: UnitType) -> list[str]:
    """UUIDs of visible units whose status is COMPLETE."""
    with session_scope() as s:
        return list(s.execute(
            select(col(Unit.uuid)).where(col(Unit.unit_type) == unit_type,
                                         col(Unit.hidden).is_(False),
                                         col(Unit.status) == UnitStatus.COMPLETE)
            .order_by(col(Unit.created_at))
        ).scalars())


def hide(unit_uuid: str, unit_type: UnitType) -> bool:
    """Hide a finished unit; False when it is still running or already hidden."""
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None or unit.unit_type != unit_type:
            raise AMError(404, {"removed": False})
        if unit.hidden or unit.status not in DONE:
            return False
        unit.hidden = True
        return True


def hide_all(unit_type: UnitType) -> list[str]:
    """Hide every visible completed or failed unit; returns their UUIDs."""
    with session_scope() as s:
        uuids = list(s.execute(
            select(col(Unit.uuid)).where(col(Unit.unit_type) == unit_type,
                                         col(Unit.hidden).is_(False),
                                         col(Unit.status).in_(DONE))
        ).scalars())
        if uuids:
            s.execute(update(Unit).where(col(Unit.uuid).in_(uuids)).values(hidden=True))
        return uuids


def waiting_decisions(unit_types: tuple[UnitType, ...] = (UnitType.TRANSFER, UnitType.SIP)
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
    return [{"sip_directory": directory_of(unit), "sip_uuid": unit.uuid, "sip_name": unit.name,
             "microservice": job.name}
            for _decision, unit, job in waiting_decisions()]
