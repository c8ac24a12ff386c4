"""Reingest a stored AIP: bring it back to processing and rebuild it as a new version.

``start_reingest(aip_uuid, "metadata" | "partial")`` does what Archivematica's
``/api/ingest/reingest`` does: the SIP keeps the AIP's UUID, its old jobs,
decisions and file rows are dropped, and the ``reingest`` flow is submitted. That
flow unpacks the stored AIP into the processing location, reads its METS back into
File and Event rows (with a ``reingestion`` event per file), asks *Approve AIP
reingest* (unless the configuration answers it; ``approve_reingest`` answers it for
the API) and runs ingest again. Metadata reingest does not normalize; partial
reingest follows the configuration's Normalize choice. The new METS keeps the first
CREATEDATE and gets a LASTMODDATE; the stored AIP is replaced only once the new one
has been verified in the store. Full reingest (a new transfer of type
"Archivematica AIP") is not supported yet.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import delete
from sqlmodel import col, select

from custos import decisions, dispatch
from custos.db import get_engine, session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import (
    Decision,
    Event,
    EventAgent,
    File,
    Job,
    Location,
    Package,
    PackageStatus,
    Task,
    Unit,
    UnitStatus,
    UnitType,
    utcnow,
)

ReingestType = Literal["metadata", "partial", "full"]
APPROVE_GROUP = "Reingest AIP"
APPROVE_JOB = "Approve AIP reingest"
APPROVE_CHOICE = "260ef4ea-f87d-4acf-830d-d0de41e6d2af"


def start_reingest(aip_uuid: str, reingest_type: ReingestType = "metadata") -> str:
    """Start reingesting a stored AIP and return the reingest unit's uuid (the AIP's).

    Raises:
        NotFound: no stored AIP has that uuid.
        Conflict: the AIP is being processed already.
        InvalidInput: unknown or unsupported reingest type.
    """
    if reingest_type == "full":
        raise InvalidInput("full reingest (the AIP back through a transfer of type "
                           "\"Archivematica AIP\") is not supported: the transfer flow has "
                           "no such transfer type yet; use metadata or partial",
                           details={"supported": ["metadata", "partial"]})
    if reingest_type not in ("metadata", "partial"):
        raise InvalidInput(f"unknown reingest type {reingest_type!r}")
    engine = get_engine()
    with session_scope(engine) as s:
        pkg = s.get(Package, aip_uuid)
        if pkg is None or pkg.package_type != "AIP" or pkg.status != PackageStatus.STORED:
            raise NotFound(f"no stored AIP {aip_uuid}")
        unit = s.get(Unit, aip_uuid)
        if unit is not None and unit.status in (UnitStatus.PROCESSING, UnitStatus.USER_INPUT):
            raise Conflict(f"AIP {aip_uuid} is being processed")
        name = pkg.name.removesuffix(f"-{aip_uuid}")
        loc = s.get(Location, pkg.location_uuid)
        assert loc is not None
        # ProcessingConfig fields: the AIP goes back where it was, packaged as it was.
        options: dict[str, object] = {
            "store_aip": True, "aip_location": f"/api/v2/location/{loc.uuid}/",
            "compression_algorithm": ("uncompressed" if pkg.compression == "none"
                                      else pkg.compression), "store_dip": False,
            "upload_dip": "none",
        }
        if reingest_type == "metadata":
            options |= {"normalize": "none", "approve_normalization": "approve",
                        "add_metadata_reminder": True}
        variables = {"reingest": reingest_type, "ingest_options": options}
        if unit is None:
            s.add(Unit(uuid=aip_uuid, unit_type=UnitType.SIP, name=name, variables=variables))
        else:
            unit.variables, unit.status, unit.error = variables, UnitStatus.PROCESSING, None
            unit.updated_at = utcnow()
    _forget(aip_uuid)
    dispatch.submit("reingest", aip_uuid)
    return aip_uuid


def _forget(unit_uuid: str) -> None:
    """Drop what the SIP's last ingest recorded: its jobs, tasks, decisions, its own
    File rows and its file events (the METS brings the files and events back).

    Kept: the rows of the transfer the SIP came from (its File rows and events
    belong to the transfer unit; reading the METS links them to the SIP again) and
    the AIP's own events (``file_uuid`` null: fixity audits, compression), which are
    its history.
    """
    jobs = select(Job.uuid).where(col(Job.unit_uuid) == unit_uuid)
    events = select(Event.uuid).where(col(Event.unit_uuid) == unit_uuid,
                                      col(Event.file_uuid).is_not(None))
    with session_scope() as s:  # subqueries: no bound-parameter limit on big AIPs
        s.execute(delete(Decision).where(col(Decision.unit_uuid) == unit_uuid))
        s.execute(delete(Task).where(col(Task.job_uuid).in_(jobs)))
        s.execute(delete(Job).where(col(Job.unit_uuid) == unit_uuid))
        s.execute(delete(EventAgent).where(col(EventAgent.event_uuid).in_(events)))
        s.execute(delete(Event).where(col(Event.uuid).in_(events)))
        s.execute(delete(File).where(col(File.unit_uuid) == unit_uuid))


def approve_reingest(sip_uuid: str, *, by: str = "") -> None:
    """Answer *Approve AIP reingest* for the SIP (``/api/ingest/reingest/approve``).

    Raises:
        NotFound: the SIP is not waiting for that approval.
    """
    pending = decisions.pending(sip_uuid, APPROVE_JOB)
    if pending is None:
        raise NotFound(f"SIP {sip_uuid} is not waiting for reingest approval")
    decisions.answer(pending.job_uuid, APPROVE_CHOICE, by=by)
