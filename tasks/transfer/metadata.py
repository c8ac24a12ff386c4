"""Steps 16-17: the transfer METS and *Complete transfer*.

The transfer METS (``metadata/submissionDocumentation/METS.xml``) records what
arrived: one PREMIS object per file (UUID, size, fixity, format) with its
events, a fileSec and a physical structMap. Its PREMIS elements come from the
same builders as the AIP METS (``custos.mets.premis``), so both documents
describe a file and an event in one way and validate against the same schemas.
It travels into the SIP as submission documentation, as Archivematica's does,
and is registered as a File row (use ``submissionDocumentation``, with its size,
checksum, format and *ingestion* / *message digest calculation* / *format
identification* events) so the AIP METS gives it a fileSec entry and an amdSec
like any other file.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from lxml import etree
from prefect import task
from prefect.cache_policies import NONE
from sqlalchemy import select
from sqlmodel import col

from custos.db import session_scope
from custos.fixity import digest_event_detail, hash_files
from custos.mets import premis
from custos.mets.mets import mets_timestamp
from custos.mets.model import AIPFile, Event, FileUse, FormatInfo
from custos.mets.ns import METS_SCHEMA_LOCATION, NSMAP, XLINK_HREF, XSI_SCHEMA_LOCATION, mets
from custos.models import Event as EventModel
from custos.models import File, utcnow
from custos.recorder import JobHandle

from .common import TransferContext, display_path, microservice
from .formats import identify_rows
from .identifiers import register_files

GROUP = "Generate METS.xml document"
METS_PATH = "metadata/submissionDocumentation/METS.xml"


def _sub(parent: etree._Element, tag: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, mets(tag), attrib)


def _use(value: str) -> FileUse:
    try:
        return FileUse(value)
    except ValueError:
        return FileUse.ORIGINAL


def premis_file(f: File) -> etree._Element:
    """The file's ``premis:object`` as the AIP METS builds it (``custos.mets.premis``)."""
    fmt = (
        FormatInfo(
            name=f.format_name or "Unknown", version=f.format_version or "", puid=f.puid or ""
        )
        if (f.format_name or f.puid)
        else None
    )
    return premis.file_object(
        AIPFile(
            uuid=UUID(f.uuid),
            path=f.current_path,
            use=_use(f.use),
            size=f.size or 0,
            checksum=f.checksum or "",
            checksum_algorithm=f.checksum_type or "",
            format=fmt,
            original_name=f"%transferDirectory%{f.original_path}",
        )
    )


def premis_event(ev: EventRow) -> etree._Element:
    """The event's ``premis:event`` as the AIP METS builds it."""
    return premis.event_element(
        Event(
            uuid=UUID(ev.uuid),
            type=ev.event_type,
            datetime=ev.event_datetime,
            detail=ev.detail,
            outcome=ev.outcome,
            outcome_detail_note=ev.outcome_note,
        )
    )


def _wrapped(
    parent: etree._Element, section: str, section_id: str, md_type: str, content: etree._Element
) -> None:
    """``<mets:techMD|digiprovMD ID=...><mets:mdWrap MDTYPE=...><mets:xmlData>``."""
    wrap = _sub(_sub(parent, section, ID=section_id), "mdWrap", MDTYPE=md_type)
    _sub(wrap, "xmlData").append(content)


def transfer_mets(
    ctx: TransferContext, files: list[File], events: dict[str, list[EventRow]]
) -> bytes:
    """Build the transfer METS document (PREMIS elements from ``custos.mets.premis``)."""
    root = etree.Element(mets("mets"), {XSI_SCHEMA_LOCATION: METS_SCHEMA_LOCATION}, nsmap=NSMAP)
    _sub(root, "metsHdr", CREATEDATE=mets_timestamp(utcnow()))
    file_sec = etree.Element(mets("fileSec"))
    groups: dict[str, etree._Element] = {}
    struct = etree.Element(mets("structMap"), TYPE="physical", ID="structMap_1")
    top = _sub(struct, "div", TYPE="Directory", LABEL=ctx.directory.name)
    dirs: dict[str, etree._Element] = {"": top}
    for n, f in enumerate(files, start=1):
        amd = _sub(root, "amdSec", ID=f"amdSec_{n}")
        _wrapped(amd, "techMD", f"techMD_{n}", "PREMIS:OBJECT", premis_file(f))
        for k, ev in enumerate(events.get(f.uuid, []), start=1):
            _wrapped(amd, "digiprovMD", f"digiprovMD_{n}_{k}", "PREMIS:EVENT", premis_event(ev))
        if f.use not in groups:
            groups[f.use] = _sub(file_sec, "fileGrp", USE=f.use)
        mf = _sub(groups[f.use], "file", ID=f"file-{f.uuid}", ADMID=f"amdSec_{n}")
        _sub(mf, "FLocat", LOCTYPE="OTHER", OTHERLOCTYPE="SYSTEM").set(XLINK_HREF, f.current_path)
        parts = f.current_path.split("/")
        parent = top
        for i in range(1, len(parts)):
            key = "/".join(parts[:i])
            if key not in dirs:
                dirs[key] = _sub(parent, "div", TYPE="Directory", LABEL=parts[i - 1])
            parent = dirs[key]
        item = _sub(parent, "div", TYPE="Item", LABEL=parts[-1])
        _sub(item, "fptr", FILEID=f"file-{f.uuid}")
    root.append(file_sec)
    root.append(struct)
    data: bytes = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return data


class EventRow(NamedTuple):
    """The columns of an Event row the transfer METS writes."""

    uuid: str
    file_uuid: str | None
    event_type: str
    event_datetime: datetime
    detail: str
    outcome: str
    outcome_note: str


def _events(ctx: TransferContext) -> dict[str, list[EventRow]]:
    """The unit's file events by file, oldest first (one query of plain columns)."""
    out: dict[str, list[EventRow]] = defaultdict(list)
    with session_scope(ctx.recorder.engine) as s:
        rows = s.execute(
            select(
                col(EventModel.uuid),
                col(EventModel.file_uuid),
                col(EventModel.event_type),
                col(EventModel.event_datetime),
                col(EventModel.detail),
                col(EventModel.outcome),
                col(EventModel.outcome_note),
            )
            .where(col(EventModel.unit_uuid) == ctx.uuid)
            .order_by(col(EventModel.event_datetime))
        ).all()
    for row in rows:
        ev = EventRow(*row)
        if ev.file_uuid:
            out[ev.file_uuid].append(ev)
    return out


def register_mets(ctx: TransferContext, job: JobHandle) -> str:
    """Give the written transfer METS a File row with checksum, size and format.

    Everything is written with the job (a crash before it completes leaves no row);
    a METS rewritten by a resumed run updates its existing row. Returns the row's
    UUID.
    """
    target = ctx.directory / METS_PATH
    created = register_files(ctx, [target], job)
    if created:
        rel = display_path(METS_PATH)
        row = File(uuid=created[0][0], unit_uuid=ctx.uuid, original_path=rel, current_path=rel)
    else:
        row = ctx.files(paths=[display_path(METS_PATH)])[0]
    algo = ctx.settings.checksum_algorithm
    digest = hash_files([target], (algo,))[target]
    value = digest.digests[algo]
    job.update_files(
        [
            {
                "uuid": row.uuid,
                "size": digest.size,
                "checksum": value,
                "checksum_type": algo,
                "modified_at": utcnow(),
            }
        ]
    )
    if created:
        job.event(file_uuid=row.uuid, event_type="ingestion")
    job.event(
        file_uuid=row.uuid,
        event_type="message digest calculation",
        detail=digest_event_detail(algo),
        outcome_note=value,
    )
    if ctx.config.identify_transfer is not False:
        identify_rows(ctx, job, [row])
    return row.uuid


def _generate(ctx: TransferContext) -> None:
    if ctx.todo(GROUP):
        with ctx.recorder.job(ctx.uuid, GROUP, GROUP) as job:
            target = ctx.directory / METS_PATH
            target.parent.mkdir(parents=True, exist_ok=True)
            files = [f for f in ctx.files() if f.current_path != METS_PATH]
            target.write_bytes(transfer_mets(ctx, files, _events(ctx)))
            register_mets(ctx, job)
            job.output = f"METS.xml with {len(files)} files"
    ctx.record("Complete transfer", "Parse external METS")
    ctx.record("Complete transfer", "Create transfer metadata XML")
    ctx.record("Complete transfer", "Move to SIP creation directory for completed transfers")


generate_mets = task(name=GROUP, cache_policy=NONE)(microservice(_generate))
