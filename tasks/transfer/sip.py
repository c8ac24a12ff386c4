"""Step 18 *Create SIP from Transfer*: single SIP, backlog, or rejection.

*Create single SIP*: a SIP unit (``<name>-<sip uuid>/`` in the processing
location) receives the transfer's ``objects/`` (moved, same filesystem), its
metadata under ``objects/metadata/transfers/<transfer dir>/`` and submission
documentation under ``objects/submissionDocumentation/transfer-<transfer dir>/``,
plus ``processingMCP.xml``; File rows are re-linked (``sip_uuid``, new
``current_path`` relative to the SIP folder) and the ``ingest`` flow is
submitted. The transfer then reports COMPLETE with its ``sip_uuid``.
*Send to backlog* moves the transfer folder to the backlog location (COMPLETE,
``sip_uuid`` BACKLOG, *placement in backlog* events). *Reject* records the
rejection (REJECTED).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE
from sqlalchemy import update
from sqlmodel import col

from custos import dispatch
from custos.db import session_scope
from custos.errors import CustosError, InvalidInput
from custos.faults import fault
from custos.models import LocationPurpose, Unit, UnitStatus, UnitType, new_uuid
from custos.recorder import BACKLOG_JOB, CREATE_SIP_JOB
from custos.storage import default_location

from .common import CONFIG_FILE, TransferContext, microservice

GROUP = "Create SIP from Transfer"
log = logging.getLogger(__name__)
SIP_LABELS = {
    "single": "Create single SIP and continue processing",
    "backlog": "Send to backlog",
    "reject": "Reject transfer",
}


def sip_path(transfer_dir: str, rel: str) -> str:
    """Where a transfer-relative path lands inside the SIP."""
    if rel.startswith("metadata/submissionDocumentation/"):
        return f"objects/submissionDocumentation/transfer-{transfer_dir}/" + rel.removeprefix(
            "metadata/submissionDocumentation/"
        )
    if rel.startswith("metadata/"):
        return f"objects/metadata/transfers/{transfer_dir}/" + rel.removeprefix("metadata/")
    return rel


def _move(src: Path, dest: Path) -> None:
    if src.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dest))


def create_sip(ctx: TransferContext) -> str:
    """Build the SIP unit and folder from the transfer (resumable); returns its uuid."""
    variables = ctx.unit.variables or {}
    sip_uuid = variables.get("pending_sip_uuid") or new_uuid()
    if "pending_sip_uuid" not in variables:
        ctx.set_variables(pending_sip_uuid=sip_uuid)
    root = ctx.directory
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    sip_dir = processing / f"{ctx.unit.name}-{sip_uuid}"
    sip_dir.mkdir(exist_ok=True)
    tname = root.name
    sub = root / "metadata" / "submissionDocumentation"
    _move(sub, sip_dir / "objects" / "submissionDocumentation" / f"transfer-{tname}")
    _move(root / "metadata", sip_dir / "objects" / "metadata" / "transfers" / tname)
    _objects_move(root / "objects", sip_dir / "objects")
    if (root / "logs").is_dir():
        shutil.copytree(
            root / "logs", sip_dir / "logs" / "transfers" / tname / "logs", dirs_exist_ok=True
        )
    (sip_dir / "logs").mkdir(exist_ok=True)
    if (root / CONFIG_FILE).is_file():
        shutil.copyfile(root / CONFIG_FILE, sip_dir / CONFIG_FILE)
    changes = [
        {"uuid": f.uuid, "sip_uuid": sip_uuid, "current_path": sip_path(tname, f.current_path)}
        for f in ctx.files()
        if f.sip_uuid is None
    ]
    ctx.recorder.update_files(changes)
    with session_scope(ctx.recorder.engine) as s:
        existing = s.get(Unit, sip_uuid)
        if existing is not None and existing.transfer_uuid != ctx.uuid:
            # Full reingest: the AIP's own SIP unit (its UUID) is rebuilt from here.
            existing.current_path, existing.transfer_uuid = str(sip_dir), ctx.uuid
            existing.source_path, existing.error = ctx.unit.current_path, None
            existing.status = UnitStatus.PROCESSING
        if existing is None:
            u = ctx.unit
            s.add(
                Unit(
                    uuid=sip_uuid,
                    unit_type=UnitType.SIP,
                    name=u.name,
                    transfer_type=u.transfer_type,
                    current_path=str(sip_dir),
                    source_path=u.current_path,
                    processing_config=u.processing_config,
                    accession=u.accession,
                    access_system_id=u.access_system_id,
                    transfer_uuid=u.uuid,
                    auto_approve=u.auto_approve,
                    created_by=u.created_by,
                )
            )
        s.execute(update(Unit).where(col(Unit.uuid) == ctx.uuid).values(sip_uuid=sip_uuid))
    return str(sip_uuid)


def _objects_move(src: Path, dest: Path) -> None:
    """Move objects into a SIP folder that may already hold objects/metadata."""
    if not src.exists():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        target = dest / entry.name
        if target.is_dir() and entry.is_dir() and not entry.is_symlink():
            _objects_move(entry, target)  # merged, not nested (reingested AIP metadata)
        else:
            shutil.move(str(entry), str(target))
            fault("create-sip:moving")  # a resumed run moves what is left
    src.rmdir()


def send_to_backlog(ctx: TransferContext) -> None:
    """Move the transfer folder to the backlog location and record it."""
    backlog = Path(default_location(LocationPurpose.BACKLOG).path)
    target = backlog / ctx.directory.name
    if ctx.directory.exists() and not target.exists():
        shutil.move(str(ctx.directory), str(target))
    with session_scope(ctx.recorder.engine) as s:
        s.execute(
            update(Unit)
            .where(col(Unit.uuid) == ctx.uuid)
            .values(current_path=str(target), sip_uuid="BACKLOG")
        )


def _create(ctx: TransferContext) -> None:
    if ctx.todo("Check transfer directory for objects"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Check transfer directory for objects"):
            if not any(f.current_path.startswith("objects/") for f in ctx.files(uses=["original"])):
                raise InvalidInput("transfer has no objects")
    ctx.record(GROUP, "Load options to create SIPs")
    choice = ctx.decide("create_sip", GROUP, "Create SIP(s)", SIP_LABELS)
    if choice == "reject":
        raise ctx.reject()
    if choice == "backlog":
        ctx.record("Send transfer to backlog", "Add README file")
        ctx.record("Send transfer to backlog", "Serialize Dublin Core metadata to disk")
        if ctx.todo(BACKLOG_JOB):
            with ctx.recorder.job(ctx.uuid, "Send transfer to backlog", BACKLOG_JOB) as job:
                for f in ctx.files():
                    job.event(file_uuid=f.uuid, event_type="placement in backlog")
                send_to_backlog(ctx)
        raise ctx.stop("backlog")
    ctx.record(GROUP, "Move to processing directory")
    ctx.record(GROUP, "Serialize Dublin Core metadata to disk")
    if ctx.todo(CREATE_SIP_JOB):
        sip_uuid = create_sip(ctx)
        ctx.record(GROUP, CREATE_SIP_JOB, output=sip_uuid)
        try:
            dispatch.submit("ingest", sip_uuid)
        except (CustosError, ImportError) as exc:
            # The SIP exists and waits; the reconciler or a user resubmits ingest.
            log.warning("ingest of SIP %s not started: %s", sip_uuid, exc)


create_sips = task(name=GROUP, cache_policy=NONE)(microservice(_create))
