"""Steps 16-17: the transfer METS and *Complete transfer*.

The transfer METS (``metadata/submissionDocumentation/METS.xml``) records what
arrived: one PREMIS object per file (UUID, size, fixity, format) with its
events, a fileSec and a physical structMap. It travels into the SIP as
submission documentation, as Archivematica's does, and is registered as a File
row (use ``submissionDocumentation``, with its size, checksum, format and
*ingestion* / *message digest calculation* / *format identification* events) so
the AIP METS gives it a fileSec entry and an amdSec like any other file.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from lxml import etree
from prefect import task
from prefect.cache_policies import NONE
from sqlalchemy import select
from sqlmodel import col

from custos.db import session_scope
from custos.models import Event, File, utcnow
from custos.recorder import JobHandle
from tasks.fixity import digest_event_detail, hash_files

from .common import TransferContext, display_path, microservice
from .formats import identify_rows
from .identifiers import register_files

METS_NS = "http://www.loc.gov/METS/"
PREMIS_NS = "http://www.loc.gov/premis/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
NSMAP = {"mets": METS_NS, "premis": PREMIS_NS, "xlink": XLINK_NS}
GROUP = "Generate METS.xml document"
METS_PATH = "metadata/submissionDocumentation/METS.xml"


def _m(tag: str) -> str:
    return f"{{{METS_NS}}}{tag}"


def _p(tag: str) -> str:
    return f"{{{PREMIS_NS}}}{tag}"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def transfer_mets(ctx: TransferContext, files: list[File],
                  events: dict[str, list[EventRow]]) -> bytes:
    """Build the transfer METS document."""
    root = etree.Element(_m("mets"), nsmap=NSMAP)
    _sub(root, _m("metsHdr")).set("CREATEDATE", _iso(utcnow()))
    file_sec = etree.Element(_m("fileSec"))
    groups: dict[str, etree._Element] = {}
    struct = etree.Element(_m("structMap"), TYPE="physical", ID="structMap_1")
    top = _sub(struct, _m("div"))
    top.set("TYPE", "Directory")
    top.set("LABEL", ctx.directory.name)
    dirs: dict[str, etree._Element] = {"": top}
    for n, f in enumerate(files, start=1):
        amd = _sub(root, _m("amdSec"))
        amd.set("ID", f"amdSec_{n}")
        tech = _sub(amd, _m("techMD"))
        tech.set("ID", f"techMD_{n}")
        wrap = _sub(tech, _m("mdWrap"))
        wrap.set("MDTYPE", "PREMIS:OBJECT")
        obj = _sub(_sub(wrap, _m("xmlData")), _p("object"))
        obj.set("version", "3.0")
        ident = _sub(obj, _p("objectIdentifier"))
        _sub(ident, _p("objectIdentifierType"), "UUID")
        _sub(ident, _p("objectIdentifierValue"), f.uuid)
        chars = _sub(obj, _p("objectCharacteristics"))
        _sub(chars, _p("compositionLevel"), "0")
        if f.checksum:
            fix = _sub(chars, _p("fixity"))
            _sub(fix, _p("messageDigestAlgorithm"), f.checksum_type or "")
            _sub(fix, _p("messageDigest"), f.checksum)
        _sub(chars, _p("size"), str(f.size or 0))
        fmt_el = _sub(chars, _p("format"))
        _sub(_sub(fmt_el, _p("formatDesignation")), _p("formatName"),
             f.format_name or "Unknown")
        if f.puid:
            reg = _sub(fmt_el, _p("formatRegistry"))
            _sub(reg, _p("formatRegistryName"), "PRONOM")
            _sub(reg, _p("formatRegistryKey"), f.puid)
        _sub(obj, _p("originalName"), f"%transferDirectory%{f.original_path}")
        for k, ev in enumerate(events.get(f.uuid, []), start=1):
            dp = _sub(amd, _m("digiprovMD"))
            dp.set("ID", f"digiprovMD_{n}_{k}")
            ew = _sub(dp, _m("mdWrap"))
            ew.set("MDTYPE", "PREMIS:EVENT")
            pe = _sub(_sub(ew, _m("xmlData")), _p("event"))
            pe.set("version", "3.0")
            eid = _sub(pe, _p("eventIdentifier"))
            _sub(eid, _p("eventIdentifierType"), "UUID")
            _sub(eid, _p("eventIdentifierValue"), ev.uuid)
            _sub(pe, _p("eventType"), ev.event_type)
            _sub(pe, _p("eventDateTime"), _iso(ev.event_datetime))
            _sub(_sub(pe, _p("eventDetailInformation")), _p("eventDetail"), ev.detail)
            out = _sub(pe, _p("eventOutcomeInformation"))
            _sub(out, _p("eventOutcome"), ev.outcome)
            _sub(_sub(out, _p("eventOutcomeDetail")), _p("eventOutcomeDetailNote"),
                 ev.outcome_note)
        use = f.use
        if use not in groups:
            groups[use] = _sub(file_sec, _m("fileGrp"))
            groups[use].set("USE", use)
        mf = _sub(groups[use], _m("file"))
        mf.set("ID", f"file-{f.uuid}")
        mf.set("ADMID", f"amdSec_{n}")
        loc = _sub(mf, _m("FLocat"))
        loc.set(f"{{{XLINK_NS}}}href", f.current_path)
        loc.set("LOCTYPE", "OTHER")
        loc.set("OTHERLOCTYPE", "SYSTEM")
        parts = f.current_path.split("/")
        parent = top
        for i in range(1, len(parts)):
            key = "/".join(parts[:i])
            if key not in dirs:
                div = _sub(parent, _m("div"))
                div.set("TYPE", "Directory")
                div.set("LABEL", parts[i - 1])
                dirs[key] = div
            parent = dirs[key]
        item = _sub(parent, _m("div"))
        item.set("TYPE", "Item")
        item.set("LABEL", parts[-1])
        _sub(item, _m("fptr")).set("FILEID", f"file-{f.uuid}")
    root.append(file_sec)
    root.append(struct)
    data: bytes = etree.tostring(root, pretty_print=True, xml_declaration=True,
                                 encoding="UTF-8")
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
            select(col(Event.uuid), col(Event.file_uuid), col(Event.event_type),
                      col(Event.event_datetime), col(Event.detail), col(Event.outcome),
                      col(Event.outcome_note))
            .where(col(Event.unit_uuid) == ctx.uuid)
            .order_by(col(Event.event_datetime))).all()
    for row in rows:
        ev = EventRow(*row)
        if ev.file_uuid:
            out[ev.file_uuid].append(ev)
    return out


def register_mets(ctx: TransferContext, job: JobHandle) -> str:
    """Give the written transfer METS a File row with checksum, size and format.

    Idempotent: a METS rewritten by a resumed run updates its existing row.
    Returns the row's UUID.
    """
    target = ctx.directory / METS_PATH
    created = register_files(ctx, [target])
    row = ctx.files(paths=[display_path(METS_PATH)])[0]
    algo = ctx.settings.checksum_algorithm
    digest = hash_files([target], (algo,))[target]
    value = digest.digests[algo]
    ctx.recorder.update_files([{"uuid": row.uuid, "size": digest.size, "checksum": value,
                                "checksum_type": algo, "modified_at": utcnow()}])
    if created:
        job.event(file_uuid=row.uuid, event_type="ingestion")
    job.event(file_uuid=row.uuid, event_type="message digest calculation",
              detail=digest_event_detail(algo), outcome_note=value)
    if ctx.config.identify_transfer is not False:
        identify_rows(ctx, job, ctx.files(paths=[row.current_path]))
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
