"""A DSpace transfer's item METS in the AIP METS, as Archivematica links it
(``create_mets_v2.py``'s DSpace handling and ``create_mets_rights_dspace_mdref.py``).

Each DSpace item of a ``dspace`` transfer keeps its ``mets.xml`` beside its bitstreams;
the AIP METS lists it in the ``submissionDocumentation`` fileGrp, in the group of the
item's (first) original, as are its licence and text files. The item's originals get:

- two dmdSecs, linked from their ``mets:file`` (``DMDID``): an ``mdRef`` to the item's
  ``mets.xml`` (``LABEL="mets.xml-Group-<original uuid>"``, ``MDTYPE="OTHER"``,
  ``XPTR="xpointer(id('<the DSpace METS's dmdSec IDs>'))"``), and Dublin Core with the
  item's handle (``dc:identifier``) and its collection's (``dcterms:isPartOf``), read
  from the DSpace METS's ``dim`` fields (this one only when both are there);
- a ``rightsMD`` per DSpace METS with rights (the item's, and a collection's
  exported beside the items): an ``mdRef`` ``MDTYPE="OTHER" OTHERMDTYPE="METSRIGHTS"``
  whose ``XPTR`` names its ``rightsMD`` IDs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from uuid import UUID

from lxml import etree
from sqlalchemy import Engine

from custos.db import get_engine, session_scope
from custos.mets import model
from custos.mets.dublincore import dublin_core_element
from custos.mets.ns import DC_NS, DCTERMS_NS, XLINK_HREF, XPATH_NS, mets, safe_parser
from custos.models import TransferType, Unit

from .sip import Sip

DIM_NS = "http://www.dspace.org/xmlns/dspace/dim"
_DIM_FIELD = "mets:amdSec/mets:sourceMD/mets:mdWrap/mets:xmlData/dim:dim/dim:field"
_NS = XPATH_NS | {"dim": DIM_NS}
METS_NAME = "mets.xml"
#: File uses grouped with the item's original (Archivematica's DSpace GROUPID).
ITEM_USES = (
    model.FileUse.LICENSE,
    model.FileUse.TEXT_OCR,
    model.FileUse.SUBMISSION_DOCUMENTATION,
)


def _is_dspace(sip: Sip, engine: Engine) -> bool:
    if not sip.transfer_uuid:
        return False
    with session_scope(engine) as s:
        unit = s.get(Unit, sip.transfer_uuid)
        return unit is not None and unit.transfer_type == TransferType.DSPACE


def _md_ref(href: str, label: str, xptr: str, other_mdtype: str | None = None) -> bytes:
    attrib = {"LABEL": label, XLINK_HREF: href, "MDTYPE": "OTHER"}
    if other_mdtype:
        attrib["OTHERMDTYPE"] = other_mdtype
    attrib |= {"LOCTYPE": "OTHER", "OTHERLOCTYPE": "SYSTEM", "XPTR": xptr}
    return etree.tostring(etree.Element(mets("mdRef"), attrib))


def _xptr(ids: Sequence[str]) -> str:
    return f"xpointer(id('{' '.join(ids)}'))"


def _parse(path: Path) -> etree._Element | None:
    try:
        return etree.parse(str(path), safe_parser()).getroot()
    except (OSError, etree.XMLSyntaxError):
        return None


def _rights_ids(root: etree._Element) -> list[str]:
    return [
        el.get("ID", "") for el in root.iterfind("mets:amdSec/mets:rightsMD", _NS) if el.get("ID")
    ]


def _item_sections(
    mets_file: model.AIPFile, root: etree._Element, first: model.AIPFile
) -> list[bytes]:
    dmd_ids = [el.get("ID", "") for el in root.iterfind("mets:dmdSec", _NS)]
    out = [_md_ref(mets_file.path, f"mets.xml-Group-{first.uuid}", _xptr(dmd_ids))]
    identifier = root.findtext(f"{_DIM_FIELD}[@qualifier='uri']", namespaces=_NS)
    part_of = root.findtext(f"{_DIM_FIELD}[@qualifier='isPartOf']", namespaces=_NS)
    if identifier and part_of:
        dc = dublin_core_element(
            [
                (f"{{{DCTERMS_NS}}}isPartOf", part_of.strip()),
                (f"{{{DC_NS}}}identifier", identifier.strip()),
            ]
        )
        wrap = etree.Element(mets("mdWrap"), {"MDTYPE": "DC"})
        etree.SubElement(wrap, mets("xmlData")).append(dc)
        out.append(etree.tostring(wrap))
    return out


def dspace_links(
    sip: Sip, files: tuple[model.AIPFile, ...], engine: Engine | None = None
) -> tuple[tuple[model.AIPFile, ...], list[model.DescriptiveSection]]:
    """The files with the DSpace items' groups and rights references, and the items'
    dmdSecs; the files unchanged and no section unless the SIP's transfer was DSpace."""
    if not _is_dspace(sip, engine or get_engine()):
        return files, []
    by_path = {f.path: f for f in files}
    metses = [
        f
        for f in files
        if f.use is model.FileUse.SUBMISSION_DOCUMENTATION
        and PurePosixPath(f.path).name == METS_NAME
        and not f.path.startswith("objects/submissionDocumentation/")
    ]
    parsed = {m.path: _parse(sip.path / m.path) for m in metses}
    groups: dict[UUID, UUID] = {}
    refs: dict[UUID, list[bytes]] = {}
    sections: list[model.DescriptiveSection] = []
    for mets_file in metses:
        root = parsed[mets_file.path]
        item = PurePosixPath(mets_file.path).parent
        originals = sorted(
            (
                f
                for f in files
                if f.use is model.FileUse.ORIGINAL and item in PurePosixPath(f.path).parents
            ),
            key=lambda f: f.path,
        )
        if root is None or not originals:
            continue
        first = originals[0]
        for f in files:
            if f.use in ITEM_USES and PurePosixPath(f.path).parent == item:
                groups[f.uuid] = first.uuid
        item_sections = _item_sections(mets_file, root, first)
        rights = [(mets_file, root)] + [
            (by_path[p], parsed[p])
            for p in sorted(parsed)
            if PurePosixPath(p).parent.parent == item.parent
            and not PurePosixPath(p).parent.name.startswith("ITEM")
            and parsed[p] is not None
        ]
        for original in originals:
            sections += [
                model.DescriptiveSection(original.path, s, on_file=True) for s in item_sections
            ]
            for source, source_root in rights:
                ids = _rights_ids(source_root) if source_root is not None else []
                if ids:
                    refs.setdefault(original.uuid, []).append(
                        _md_ref(source.path, f"mets.xml-{source.uuid}", _xptr(ids), "METSRIGHTS")
                    )
    linked = tuple(
        dataclasses.replace(
            f,
            group_uuid=groups.get(f.uuid, f.group_uuid),
            rights_refs=tuple(refs.get(f.uuid, ())),
        )
        for f in files
    )
    return linked, sections
