"""Reingest of stored AIPs: ``transfer/reingest``, ``ingest/reingest`` and approval.

Archivematica's Storage Service calls the two reingest endpoints after copying an
AIP back into the pipeline. Here the AIP is found in the AIP store (Package
table); a full reingest creates a new transfer whose parent is the AIP, a partial
(metadata) reingest reuses the SIP uuid after clearing its old jobs, as
Archivematica does. The ``reingest`` flow then does the work when installed.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlmodel import Session, col

from api.archivematica import starting
from api.archivematica.errors import error
from api.archivematica.units import DONE, UUID_RE
from custos import decisions, dispatch
from custos.db import session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import Decision, Job, Package, PackageStatus, Task, Unit, UnitType

APPROVE_REINGEST = "Approve AIP reingest"


def start(name: str | None, aip_uuid: str | None, *, target: str) -> str:
    """Create the reingest unit for a stored AIP; returns the reingest uuid."""
    if not name or not aip_uuid:
        raise error(400, '"name" and "uuid" are required.')
    if not UUID_RE.match(aip_uuid):
        raise error(400, f"{aip_uuid!r} is not a UUID.")
    with session_scope() as s:
        package = s.get(Package, aip_uuid)
        if package is None or package.status != PackageStatus.STORED:
            raise error(400, f"AIP {aip_uuid} is not in the AIP store.")
        busy = s.execute(select(col(Unit.uuid)).where(
            (col(Unit.parent_uuid) == aip_uuid) | (col(Unit.uuid) == aip_uuid),
            col(Unit.status).not_in(DONE), col(Unit.hidden).is_(False),
        )).first()
        if busy is not None and _has_jobs(s, busy[0]):
            raise error(400, f"AIP {aip_uuid} is already being reingested.")
        if target == "transfer":
            unit = Unit(unit_type=UnitType.TRANSFER, name=name,
                        transfer_type="Archivematica AIP", parent_uuid=aip_uuid,
                        processing_config="default", auto_approve=True,
                        variables={"reingest": "full"})
            s.add(unit)
        else:
            unit_or_none = s.get(Unit, aip_uuid)
            job_uuids = select(col(Job.uuid)).where(col(Job.unit_uuid) == aip_uuid)
            s.execute(delete(Task).where(col(Task.job_uuid).in_(job_uuids)))
            s.execute(delete(Decision).where(col(Decision.unit_uuid) == aip_uuid))
            s.execute(delete(Job).where(col(Job.unit_uuid) == aip_uuid))
            if unit_or_none is None:
                unit = Unit(uuid=aip_uuid, unit_type=UnitType.SIP, name=name)
                s.add(unit)
            else:
                unit = unit_or_none
                unit.name, unit.hidden = name, False
            unit.parent_uuid = aip_uuid
            unit.variables = {**(unit.variables or {}), "reingest": "partial"}
        s.flush()
        reingest_uuid = unit.uuid
    if starting.flow_available("reingest"):
        dispatch.submit("reingest", reingest_uuid, target=target)
    return reingest_uuid


def _has_jobs(session: Session, unit_uuid: str) -> bool:
    return session.execute(
        select(col(Job.uuid)).where(col(Job.unit_uuid) == unit_uuid).limit(1)
    ).first() is not None


def approve(sip_uuid: str | None, username: str = "") -> None:
    """Answer "Approve AIP reingest" for the SIP, else the 400 Archivematica gives."""
    if not sip_uuid:
        raise error(400, '"uuid" is required.')
    with session_scope() as s:
        decision = s.execute(select(Decision).where(
            col(Decision.unit_uuid) == sip_uuid, col(Decision.name) == APPROVE_REINGEST,
            col(Decision.choice).is_(None))).scalars().first()
    if decision is None:
        raise error(400, "Unable to approve the partial reingest.")
    try:
        decisions.answer(decision.job_uuid, starting.approve_choice(decision.choices),
                         by=username)
    except (NotFound, Conflict, InvalidInput) as exc:
        raise error(400, "Unable to approve the partial reingest.") from exc
