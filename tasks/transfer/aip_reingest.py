"""Full reingest: a stored AIP comes back as a transfer of type "Archivematica AIP".

``custos.reingest.start_reingest(aip_uuid, "full")`` creates the transfer unit (a new
UUID, ``reingest_aip`` and ``pending_sip_uuid`` set to the AIP's UUID in its
variables) and submits the ``transfer`` flow, whose first step is this one. For
any other transfer type it does nothing.

*Move AIP to transfer directory* copies (or extracts) the stored AIP's
``data/objects/`` into the transfer folder ``<name>-<transfer uuid>/objects/``,
leaving out the derivatives the METS lists (preservation, access, thumbnails,
OCR text): ingest normalizes again. Metadata files and submission documentation
keep their places under ``objects/``, so the SIP has them at the same paths as
the AIP did. *Parse the METS into the database* gives the kept files their File
rows with the METS-recorded UUIDs, checksums and formats (owned by the new
transfer; an existing row is taken over, as Archivematica moves the AIP's files to
the reingest transfer), restores their events and agents, and records a
``reingestion`` event per file. Both jobs are idempotent: a crashed run redoes
them without duplicating rows or events.

The rest of the transfer runs as configured (virus scan, identification,
characterization...); *Create SIP from Transfer* then reuses the AIP's UUID as
the SIP UUID (``pending_sip_uuid``), and the SIP unit, prepared by
``start_reingest`` with ``reingest = "full"``, replaces the stored AIP only once
the new one has been verified in the store (``tasks.ingest.package.store``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NONE
from sqlalchemy import update
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.mets.read import METSContents, original_path, read_mets
from custos.models import (
    Event,
    File,
    FileUse,
    Location,
    LocationPurpose,
    Package,
    TransferType,
    Unit,
)
from custos.recorder import JobHandle
from custos.storage import default_location, processing_directory
from tasks.ingest.reingest import mets_datetime, mets_event_rows
from tasks.tools.compress import extract_aip

from .common import TransferContext, display_path, microservice

#: Archivematica's transfer type for a reingested AIP.
AIP_TRANSFER_TYPE = TransferType.AIP
GROUP = "Reingest AIP"
UNPACK_JOB = "Move AIP to transfer directory"
PARSE_JOB = "Parse the METS into the database"
#: The AIP's METS, kept in the transfer folder between the two jobs. Its name starts
#: with a dot, so *Remove hidden files and directories* removes it afterwards.
METS_COPY = ".reingest-METS.xml"
#: METS file uses that come back into the transfer (the rest are derivatives).
KEPT_USES = frozenset(
    {
        FileUse.ORIGINAL,
        FileUse.METADATA,
        FileUse.SUBMISSION_DOCUMENTATION,
        FileUse.LICENSE,
        FileUse.DERIVATIVE,
    }
)
_BATCH = 500


def aip_uuid_of(ctx: TransferContext) -> str:
    """The UUID of the AIP a full-reingest transfer brings back."""
    value = (ctx.unit.variables or {}).get("reingest_aip")
    if not value:
        raise InvalidInput(
            f"transfer {ctx.uuid} is of type {AIP_TRANSFER_TYPE!r} but names no AIP to reingest"
        )
    return str(value)


def _stored_aip(ctx: TransferContext, aip_uuid: str) -> tuple[Path, str]:
    """Where the stored AIP is, and its package name (``<name>-<uuid>``)."""
    with session_scope(ctx.recorder.engine) as s:
        pkg = s.get(Package, aip_uuid)
        if pkg is None:
            raise NotFound(f"no stored AIP {aip_uuid}")
        loc = s.get(Location, pkg.location_uuid)
        assert loc is not None
        return Path(loc.path) / pkg.path, pkg.name


def unpack_aip(ctx: TransferContext) -> int:
    """Rebuild the transfer folder from the stored AIP; returns the files placed.

    Also removes a leftover SIP folder ``<name>-<aip uuid>/`` from processing (a
    failed earlier reingest), which *Create SIP from Transfer* would otherwise fill.
    """
    aip_uuid = aip_uuid_of(ctx)
    stored, name = _stored_aip(ctx, aip_uuid)
    target = ctx.directory
    processing = Path(
        default_location(LocationPurpose.CURRENTLY_PROCESSING, ctx.recorder.engine).path
    )
    if name and Path(name).name == name and name not in (".", ".."):
        leftover = processing_directory(str(processing / name), ctx.recorder.engine)
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)  # an interrupted earlier attempt
    placed = 0
    with tempfile.TemporaryDirectory(prefix=".reingest-", dir=processing) as scratch:
        extracted = not stored.is_dir()
        bag = extract_aip(stored, Path(scratch)) if extracted else stored
        data = bag / "data"
        mets_path = data / f"METS.{aip_uuid}.xml"
        if not mets_path.is_file():
            raise InvalidInput(f"stored AIP {aip_uuid} has no METS.{aip_uuid}.xml")
        contents = read_mets(mets_path)
        derivatives = {
            info["path"] for info in contents.files.values() if info["use"] not in KEPT_USES
        }
        place = shutil.move if extracted else shutil.copy2
        for name_ in ("objects", "metadata", "logs"):
            (target / name_).mkdir(parents=True, exist_ok=True)
        objects = data / "objects"
        for dirpath, _dirs, filenames in os.walk(objects):
            here = Path(dirpath)
            rel_dir = here.relative_to(data)
            (target / rel_dir).mkdir(parents=True, exist_ok=True)  # empty folders too
            for filename in filenames:
                rel = display_path(rel_dir / filename)
                if rel in derivatives:
                    continue
                place(str(here / filename), str(target / rel_dir / filename))
                placed += 1
        shutil.copy2(mets_path, target / METS_COPY)
    return placed


def load_aip_rows(ctx: TransferContext, job: JobHandle) -> int:
    """File rows, events and ``reingestion`` events for the kept files; returns the count."""
    aip_uuid = aip_uuid_of(ctx)
    contents = read_mets(ctx.directory / METS_COPY)
    kept = {uuid: info for uuid, info in contents.files.items() if info["use"] in KEPT_USES}
    rows = [_file_row(ctx, uuid, info) for uuid, info in kept.items()]
    known = _existing(ctx, File, list(kept))
    ctx.recorder.add_files([r for r in rows if r["uuid"] not in known])
    ctx.recorder.update_files([r for r in rows if r["uuid"] in known])
    _detach_others(ctx, aip_uuid, set(kept))
    events = _event_rows(ctx, contents, kept)
    known_events = _existing(ctx, Event, list(events))
    ctx.recorder.write_bulk([], [e for uuid, e in events.items() if uuid not in known_events])
    with session_scope(ctx.recorder.engine) as s:
        done = set(
            s.exec(
                select(Event.file_uuid).where(
                    col(Event.unit_uuid) == ctx.uuid, col(Event.event_type) == "reingestion"
                )
            ).all()
        )
        sip = s.get(Unit, aip_uuid)
        if sip is not None:  # the new METS keeps the first CREATEDATE
            sip.variables = {
                **(sip.variables or {}),
                "mets_created": mets_datetime(contents.createdate).isoformat(),
            }
    for uuid in kept:
        if uuid not in done:
            job.event(file_uuid=uuid, event_type="reingestion")
    return len(rows)


def _file_row(ctx: TransferContext, uuid: str, info: dict[str, Any]) -> dict[str, Any]:
    path = str(info["path"])
    on_disk = ctx.directory / path
    size = info.get("size")
    if size is None and on_disk.is_file():
        size = on_disk.stat().st_size
    return {
        "uuid": uuid,
        "unit_uuid": ctx.uuid,
        "sip_uuid": None,
        "original_path": original_path(info, path),
        "current_path": path,
        "size": size,
        "checksum": info.get("checksum") or None,
        "checksum_type": info.get("checksum_algorithm") or "sha256",
        "puid": info.get("puid") or None,
        "format_name": info.get("format_name") or None,
        "format_version": info.get("format_version") or None,
        "use": info["use"],
        "derived_from": None,
        "removed": False,
    }


def _event_rows(
    ctx: TransferContext, contents: METSContents, kept: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The kept files' METS events as event rows of the transfer, by event UUID."""
    return mets_event_rows(contents, kept.items(), ctx.uuid)


def _detach_others(ctx: TransferContext, aip_uuid: str, kept: set[str]) -> None:
    """Rows still linked to the AIP's SIP that the transfer does not bring back
    (files the METS does not list) no longer belong to the SIP being rebuilt."""
    with session_scope(ctx.recorder.engine) as s:
        linked = [
            u
            for u in s.exec(select(File.uuid).where(col(File.sip_uuid) == aip_uuid))
            if u not in kept
        ]
        for i in range(0, len(linked), _BATCH):
            s.execute(
                update(File).where(col(File.uuid).in_(linked[i : i + _BATCH])).values(sip_uuid=None)
            )


def _existing(ctx: TransferContext, model: type[File] | type[Event], uuids: list[str]) -> set[str]:
    found: set[str] = set()
    with session_scope(ctx.recorder.engine) as s:
        for i in range(0, len(uuids), _BATCH):
            chunk = uuids[i : i + _BATCH]
            found.update(s.exec(select(model.uuid).where(col(model.uuid).in_(chunk))).all())
    return found


def _restore(ctx: TransferContext) -> None:
    if ctx.unit.transfer_type != AIP_TRANSFER_TYPE:
        return
    if ctx.todo(UNPACK_JOB):
        with ctx.recorder.job(ctx.uuid, GROUP, UNPACK_JOB) as job:
            job.output = f"{unpack_aip(ctx)} files"
    if ctx.todo(PARSE_JOB):
        with ctx.recorder.job(ctx.uuid, GROUP, PARSE_JOB) as job:
            job.output = f"{load_aip_rows(ctx, job)} files"


restore_aip = task(name=GROUP, cache_policy=NONE)(microservice(_restore))
