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
has been verified in the store.

``start_reingest(aip_uuid, "full")`` does what ``/api/transfer/reingest`` does: a
new transfer of type "Archivematica AIP" (a new UUID, returned) brings the AIP's
original files back with their METS-recorded UUIDs, formats and events and a
``reingestion`` event each (``tasks.transfer.aip_reingest``), runs through the
transfer as its processing configuration says (the AIP's, unless another is
named), and becomes a SIP with the AIP's UUID that is normalized again and
replaces the stored AIP once the new one verifies in the store. The transfer is
approved at once (the Storage Service approves it right after its call).
"""

from __future__ import annotations

from pathlib import Path
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
    LocationPurpose,
    Package,
    PackageStatus,
    Task,
    TransferType,
    Unit,
    UnitStatus,
    UnitType,
    new_uuid,
    utcnow,
)
from custos.storage import default_location

ReingestType = Literal["metadata", "partial", "full"]
APPROVE_GROUP = "Reingest AIP"
APPROVE_JOB = "Approve AIP reingest"
APPROVE_CHOICE = "260ef4ea-f87d-4acf-830d-d0de41e6d2af"


def start_reingest(
    aip_uuid: str, reingest_type: ReingestType = "metadata", processing_config: str | None = None
) -> str:
    """Start reingesting a stored AIP and return the reingest unit's uuid: the AIP's
    for metadata and partial reingest, the new transfer's for a full one.

    ``processing_config`` (full reingest only) names the configuration the transfer
    and the SIP run with; by default the one the AIP was ingested with.

    Raises:
        NotFound: no stored AIP has that uuid, or no such processing configuration.
        Conflict: the AIP is being processed (or reingested) already.
        InvalidInput: unknown reingest type.
    """
    if reingest_type == "full":
        return _start_full(aip_uuid, processing_config)
    if reingest_type not in ("metadata", "partial"):
        raise InvalidInput(
            f"unknown reingest type {reingest_type!r}; use metadata, partial or full"
        )
    engine = get_engine()
    with session_scope(engine) as s:
        pkg = s.get(Package, aip_uuid)
        if pkg is None or pkg.package_type != "AIP" or pkg.status != PackageStatus.STORED:
            raise NotFound(f"no stored AIP {aip_uuid}")
        unit = s.get(Unit, aip_uuid)
        if unit is not None and unit.status in (UnitStatus.PROCESSING, UnitStatus.USER_INPUT):
            raise Conflict(f"AIP {aip_uuid} is being processed")
        name = pkg.name.removesuffix(f"-{aip_uuid}")
        options = _store_options(pkg)
        if reingest_type == "metadata":
            options |= {
                "normalize": "none",
                "approve_normalization": "approve",
                "add_metadata_reminder": True,
                "transcribe": False,
            }
        variables = {"reingest": reingest_type, "ingest_options": options}
        if unit is None:
            s.add(Unit(uuid=aip_uuid, unit_type=UnitType.SIP, name=name, variables=variables))
        else:
            unit.variables, unit.status, unit.error = variables, UnitStatus.PROCESSING, None
            unit.updated_at = utcnow()
    _forget(aip_uuid)
    dispatch.submit("reingest", aip_uuid)
    return aip_uuid


def _store_options(pkg: Package) -> dict[str, object]:
    """ProcessingConfig fields: the AIP goes back where it was, packaged as it was."""
    return {
        "store_aip": True,
        "aip_location": f"/api/v2/location/{pkg.location_uuid}/",
        "compression_algorithm": ("uncompressed" if pkg.compression == "none" else pkg.compression),
        "store_dip": False,
        "upload_dip": "none",
    }


def _start_full(aip_uuid: str, processing_config: str | None) -> str:
    """Create the "Archivematica AIP" transfer for a stored AIP and submit it."""
    from custos.processing import NAME_RE, named_path

    busy = (UnitStatus.PROCESSING, UnitStatus.USER_INPUT)
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    transfer_uuid = new_uuid()
    with session_scope(get_engine()) as s:
        pkg = s.get(Package, aip_uuid)
        if pkg is None or pkg.package_type != "AIP" or pkg.status != PackageStatus.STORED:
            raise NotFound(f"no stored AIP {aip_uuid}")
        sip = s.get(Unit, aip_uuid)
        if sip is not None and sip.status in busy:
            raise Conflict(f"AIP {aip_uuid} is being processed")
        previous = (sip.variables or {}).get("reingest_transfer") if sip else None
        running = s.get(Unit, previous) if previous else None
        if running is not None and running.status in busy:
            raise Conflict(f"AIP {aip_uuid} is being reingested by transfer {previous}")
        name = pkg.name.removesuffix(f"-{aip_uuid}")
        if not name or "/" in name or name in (".", ".."):
            raise InvalidInput(f"stored AIP {aip_uuid} has no usable name ({pkg.name!r})")
        config = processing_config or (sip.processing_config if sip else "default")
        if not NAME_RE.match(config):
            raise InvalidInput(f"processing configuration name {config!r} is invalid")
        named_path(config)  # NotFound for an unknown name
        stored = s.get(Location, pkg.location_uuid)
        s.add(
            Unit(
                uuid=transfer_uuid,
                unit_type=UnitType.TRANSFER,
                name=name,
                transfer_type=TransferType.AIP,
                current_path=str(processing / f"{name}-{transfer_uuid}"),
                source_path=str(Path(stored.path) / pkg.path) if stored else pkg.path,
                processing_config=config,
                auto_approve=True,
                variables={"reingest_aip": aip_uuid, "pending_sip_uuid": aip_uuid},
            )
        )
        variables = {
            "reingest": "full",
            "ingest_options": _store_options(pkg),
            "reingest_transfer": transfer_uuid,
        }
        if sip is None:
            s.add(
                Unit(
                    uuid=aip_uuid,
                    unit_type=UnitType.SIP,
                    name=name,
                    status=UnitStatus.COMPLETE,
                    processing_config=config,
                    variables=variables,
                )
            )
        else:
            sip.variables, sip.processing_config = variables, config
            sip.updated_at = utcnow()
    _forget(aip_uuid)
    dispatch.submit("transfer", transfer_uuid)
    return transfer_uuid


def _forget(unit_uuid: str) -> None:
    """Drop what the SIP's last ingest recorded: its jobs, tasks, decisions, its own
    File rows and its file events (the METS brings the files and events back).

    Kept: the rows of the transfer the SIP came from (its File rows and events
    belong to the transfer unit; reading the METS links them to the SIP again) and
    the AIP's own events (``file_uuid`` null: fixity audits, compression), which are
    its history.
    """
    jobs = select(Job.uuid).where(col(Job.unit_uuid) == unit_uuid)
    events = select(Event.uuid).where(
        col(Event.unit_uuid) == unit_uuid, col(Event.file_uuid).is_not(None)
    )
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
