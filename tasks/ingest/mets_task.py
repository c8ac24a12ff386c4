"""Map a SIP's database rows onto :mod:`custos.mets.model` and write its AIP METS.

What goes into the METS is what goes into the AIP: originals, preservation
derivatives, metadata and submission documentation under ``objects/`` (access
copies and thumbnails belong to the DIP and are left out). Events come with the
agents recorded for them; derivatives are linked to their originals through the
normalization event. What users supply under ``objects/metadata/`` comes through
:mod:`.supplied`: Dublin Core (``metadata.csv``, ``metadata.json``), PREMIS rights (a
rightsMD per statement on each original they apply to, ``rights.csv``), extra
identifiers (``identifiers.json``), labels (``file_labels.csv``) and a further
structMap (``mets_structmap.xml``). Another METS a transfer brought gives its
sections as Archivematica places them: a Dataverse dataset's DDI
(:mod:`.dataverse_mets`), a DSpace item's references (:mod:`.dspace_mets`). The
document is validated offline before anything is bagged.
"""

from __future__ import annotations

import dataclasses
import uuid as uuid_mod
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from uuid import UUID

from lxml import etree
from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.mets import model
from custos.mets.mets import build_mets, write_mets
from custos.mets.ns import safe_parser
from custos.mets.validate import assert_valid_mets
from custos.models import Agent, Event, EventAgent, File, FileUse, Unit

from .dataverse_mets import dataverse_sections
from .dspace_mets import dspace_links
from .sip import AIP_USES, Sip, sip_files
from .supplied import (
    custom_structmaps,
    directory_entities,
    dublin_core,
    file_labels,
    identifiers,
    rights_by_file,
)


def _events(file_uuids: list[str], engine: Engine) -> dict[str, list[model.Event]]:
    """Every event of the files with its agents: two queries of plain columns.

    Rows are read as tuples, not ORM objects (10,000 files carry 40,000 events),
    and each agent row (a handful) is built once and shared by its events.
    """
    out: dict[str, list[model.Event]] = defaultdict(list)
    with session_scope(engine) as s:
        events = s.execute(
            sa_select(
                col(Event.uuid),
                col(Event.file_uuid),
                col(Event.event_type),
                col(Event.event_datetime),
                col(Event.detail),
                col(Event.outcome),
                col(Event.outcome_note),
            )
            .where(col(Event.file_uuid).in_(file_uuids))
            .order_by(col(Event.event_datetime))
        ).all()
        agent_rows = {
            a.id: model.Agent(a.identifier_type, a.identifier_value, a.name, a.agent_type)
            for a in s.exec(select(Agent))
        }
        links = s.execute(
            select(col(EventAgent.event_uuid), col(EventAgent.agent_id))
            .join(Event, col(Event.uuid) == col(EventAgent.event_uuid))
            .where(col(Event.file_uuid).in_(file_uuids))
        ).all()
    agents: dict[str, list[model.Agent]] = defaultdict(list)
    for event_uuid, agent_id in links:
        agents[event_uuid].append(agent_rows[agent_id])
    for uuid, file_uuid, etype, when, detail, outcome, note in events:
        out[file_uuid].append(
            model.Event(
                uuid=UUID(uuid),
                type=etype,
                datetime=when,
                detail=detail,
                outcome=outcome,
                outcome_detail_note=note,
                agents=tuple(sorted(agents[uuid], key=lambda a: a.key)),
            )
        )
    return out


def _characterization(text: str | None) -> tuple[bytes, ...]:
    if not text or not text.lstrip().startswith("<"):
        return ()
    try:
        etree.fromstring(text.encode("utf-8"), safe_parser())
    except etree.XMLSyntaxError:
        return ()
    return (text.encode("utf-8"),)


def _derivations(
    files: list[File], events: dict[str, list[model.Event]]
) -> dict[str, list[model.Derivation]]:
    """Derivation relationships: a preservation copy with its *normalization* event, a
    derivative that came with the transfer (a Dataverse bundle's) with its *derivation*
    event (the event's note names the derivative)."""
    out: dict[str, list[model.Derivation]] = defaultdict(list)
    kinds = {FileUse.PRESERVATION: "normalization", FileUse.DERIVATIVE: "derivation"}
    for d in files:
        kind = kinds.get(d.use)
        if kind is None or not d.derived_from:
            continue
        event = next(
            (
                e.uuid
                for e in events.get(d.derived_from, [])
                if e.type == kind
                and e.outcome_detail_note.removeprefix("%transferDirectory%") == d.current_path
            ),
            None,
        )
        out[d.derived_from].append(model.Derivation(UUID(d.uuid), event, "is source of"))
        out[d.uuid].append(model.Derivation(UUID(d.derived_from), event, "has source"))
    return out


def aip_files(sip: Sip, engine: Engine | None = None) -> tuple[model.AIPFile, ...]:
    """The SIP's AIP files as METS inputs (paths relative to the bag's ``data/``)."""
    engine = engine or get_engine()
    files = [
        f
        for f in sip_files(sip.uuid, uses=AIP_USES, engine=engine)
        if f.current_path.startswith("objects/")
    ]
    events = _events([f.uuid for f in files], engine)
    derivations = _derivations(files, events)
    rights = rights_by_file(sip, files)
    out = []
    for f in files:
        fmt = (
            model.FormatInfo(f.format_name or f.puid or "", f.format_version or "", f.puid or "")
            if (f.puid or f.format_name)
            else None
        )
        derived = f.use == FileUse.PRESERVATION
        out.append(
            model.AIPFile(
                uuid=UUID(f.uuid),
                path=f.current_path,
                use=model.FileUse(f.use),
                size=f.size or 0,
                checksum=f.checksum or "",
                checksum_algorithm=f.checksum_type or "sha256",
                group_uuid=UUID(f.derived_from) if f.derived_from else None,
                format=fmt,
                original_name=(
                    f"%SIPDirectory%{f.current_path}"
                    if derived
                    else f"%transferDirectory%{f.original_path}"
                ),
                date_created_by_application=f.modified_at,
                characterization=_characterization(f.characterization),
                derivations=tuple(derivations.get(f.uuid, ())),
                events=tuple(events.get(f.uuid, ())),
                rights=tuple(rights.get(f.uuid, ())),
            )
        )
    return tuple(out)


def empty_directories(sip: Sip) -> tuple[str, ...]:
    """Every folder under the SIP's ``objects/`` that holds no file (at any depth),
    relative to the SIP, sorted: what *Document empty directories* records."""
    objects = sip.path / "objects"
    out = []
    for folder in sorted(p for p in objects.rglob("*") if p.is_dir() and not p.is_symlink()):
        if not any(c.is_file() for c in folder.rglob("*")):
            out.append(folder.relative_to(sip.path).as_posix())
    return tuple(out)


def directory_uuids(sip: Sip, engine: Engine | None = None) -> dict[str, str]:
    """Directory path -> UUID given by *Assign UUIDs to directories* (the transfer's
    unit variables; on reingest, the SIP's, read back from the old METS)."""
    out: dict[str, str] = {}
    with session_scope(engine or get_engine()) as s:
        for uuid in (sip.transfer_uuid, sip.uuid):
            unit = s.get(Unit, uuid) if uuid else None
            found = (unit.variables or {}).get("directory_uuids") if unit else None
            if isinstance(found, dict):
                out |= {str(k): str(v) for k, v in found.items()}
    return out


def aip_directories(
    sip: Sip, empty_dirs: bool, engine: Engine | None = None
) -> tuple[model.Directory, ...]:
    """The directories the METS names beyond those holding files: every one with a
    UUID from the transfer (its PREMIS intellectual entity), and the empty ones when
    *Document empty directories* says Yes."""
    out: dict[str, model.Directory] = {}
    for path, uuid in directory_uuids(sip, engine).items():
        if path.startswith("objects/") and (sip.path / path).is_dir():
            out[path] = model.Directory(path, UUID(uuid), f"%transferDirectory%{path}/")
    if empty_dirs:
        for path in empty_directories(sip):
            out.setdefault(path, model.Directory(path))
    return tuple(out[p] for p in sorted(out))


def write_aip_mets(
    sip: Sip,
    *,
    created: datetime | None = None,
    engine: Engine | None = None,
    empty_dirs: bool = True,
) -> tuple[Path, list[str]]:
    """Build, validate and write ``METS.<sip uuid>.xml`` in the SIP directory.

    ``created`` (reingest) keeps the first METS' CREATEDATE; the builder then records
    the build time as LASTMODDATE. ``empty_dirs`` (*Document empty directories*) adds
    the folders that hold no file to the logical "Normative Directory Structure"
    structMap (written always). Returns the path and the DC rows skipped.

    Raises:
        InvalidInput: the METS does not validate (``details`` lists every problem).
    """
    files = aip_files(sip, engine)
    dc, skipped = dublin_core(sip, files)
    ids = identifiers(sip, files)
    labels = file_labels(sip, files)
    files = tuple(
        dataclasses.replace(
            f,
            identifiers=ids.files.get(str(f.uuid), ()),
            label=labels.get(str(f.uuid), ""),
        )
        for f in files
    )
    files, dspace_sections = dspace_links(sip, files, engine)
    aip = model.AIP(
        uuid=UUID(sip.uuid),
        name=sip.name,
        files=files,
        dublin_core=tuple(dc),
        identifiers=ids.aip,
        directories=tuple(directory_entities(sip, files, ids.directories, engine)),
        structmaps=tuple(custom_structmaps(sip, files)),
        descriptive=tuple(dataverse_sections(sip, files) + dspace_sections),
    )
    if created is not None:
        aip = dataclasses.replace(aip, created=created)
    named = {d if isinstance(d, str) else d.path for d in aip.directories}
    more = tuple(d for d in aip_directories(sip, empty_dirs, engine) if d.path not in named)
    aip = dataclasses.replace(aip, directories=aip.directories + more)
    tree = build_mets(aip, new_id=uuid_mod.uuid4, normative_structmap=True)
    assert_valid_mets(tree)
    partial = sip.path / f".partial-METS.{sip.uuid}.xml"
    write_mets(tree, partial)
    partial.replace(sip.mets_path)
    return sip.mets_path, skipped
