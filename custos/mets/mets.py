"""Build an AIP's METS document, shaped like Archivematica's ``create_mets_v2``.

Usage::

    tree = build_mets(aip, now=lambda: fixed, new_id=uuid_factory)
    write_mets(tree, bag_dir / "data" / f"METS.{aip.uuid}.xml")

Order of the document: ``metsHdr`` (CREATEDATE as naive UTC seconds, because metsrw
compares it as a string with ``utcnow()``), ``dmdSec``s (the AIP's PREMIS intellectual
entity, one per directory that has a UUID, then Dublin Core / custom records per
path), one ``amdSec`` per file (techMD, rightsMD for originals, one digiprovMD per
event then per distinct agent), one more ``amdSec`` holding a ``sourceMD`` per bagged
transfer (linked from the ``objects`` div's ``ADMID``, as Archivematica does), the
``fileSec`` in Archivematica's group order, the physical structMap
("Archivematica default") and optionally the logical "Normative Directory Structure"
that also lists empty directories, then any supplied structMaps (a transfer's
``mets_structmap.xml``). ``now`` and ``new_id`` are the only sources of
time and randomness, so a fixed pair gives byte-identical output.

Reingest (``AIP.created`` set) follows what Archivematica writes through metsrw 0.7:

* ``metsHdr`` keeps the first ``CREATEDATE`` and gets ``LASTMODDATE`` = build time;
  no ``RECORDSTATUS`` (neither Archivematica nor metsrw writes one).
* The AIP and directory entity dmdSecs keep ``CREATED`` = the first CREATEDATE;
  carried-over Dublin Core records keep their own ``CREATED``; new ones get the
  build time.
* Records of one path form a version history per MDTYPE (DC, OTHER/CUSTOM): the
  first is ``STATUS="original"``, later ones ``"update"`` (metsrw's spelling, not
  "updated"), every one but the newest gets ``-superseded`` appended, and a history of
  more than one shares a ``GROUPID``. metsrw draws that GROUPID at random; here it is
  a UUID5 of the AIP UUID, path and MDTYPE, so it stays the same across reingests.
  Deleting a record on reingest (Archivematica's ``STATUS="deleted"``) is not modelled.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid5

from lxml import etree

from custos.errors import InvalidInput, StorageError
from custos.mets import dublincore, premis, rights, sourcemd
from custos.mets.model import (
    AIP,
    FILE_GROUP_ORDER,
    Agent,
    AIPFile,
    DescriptiveSection,
    Directory,
    DublinCoreRecord,
    FileUse,
)
from custos.mets.ns import (
    METS_SCHEMA_LOCATION,
    NSMAP,
    XLINK_HREF,
    XSI_SCHEMA_LOCATION,
    mets,
    safe_parser,
)

NORMATIVE_LABEL = "Normative Directory Structure"
PHYSICAL_LABEL = "Archivematica default"

_SubElement = etree.SubElement
_DIV = mets("div")
_FPTR = mets("fptr")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def mets_timestamp(value: datetime) -> str:
    """Naive UTC ``YYYY-MM-DDTHH:MM:SS``: the only CREATEDATE form metsrw accepts safely."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat()


@dataclass
class _Dir:
    """A directory of the structMaps: sub-directories and files by name."""

    dirs: dict[str, _Dir] = field(default_factory=dict)
    files: dict[str, AIPFile] = field(default_factory=dict)
    dmdids: list[str] = field(default_factory=list)
    has_files: bool = False

    def child(self, name: str) -> _Dir:
        node = self.dirs.get(name)
        if node is None:
            node = self.dirs[name] = _Dir()
        return node


def _split(path: str) -> list[str]:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or any(p in {".", ".."} for p in parts):
        raise InvalidInput(f"not a relative path inside the AIP: {path!r}", {"path": path})
    return parts


class _Builder:
    def __init__(self, aip: AIP, now: datetime, new_id: Callable[[], UUID]) -> None:
        self.aip = aip
        self.stamp = mets_timestamp(now)
        #: CREATEDATE of the document, and CREATED of the entity dmdSecs.
        self.created = self.stamp if aip.created is None else mets_timestamp(aip.created)
        if self.created > self.stamp:
            raise InvalidInput(
                f"AIP created ({self.created}) is after the build time ({self.stamp})",
                {"created": self.created, "now": self.stamp},
            )
        self.new_id = new_id
        self.counters: dict[str, int] = {}
        self.file_dmdids: dict[UUID, list[str]] = {}
        #: DMDID of ``mets:file`` elements (a DSpace item's sections).
        self.file_element_dmdids: dict[UUID, list[str]] = {}
        self.source_admid: str | None = None
        self.root = etree.Element(
            mets("mets"), {XSI_SCHEMA_LOCATION: METS_SCHEMA_LOCATION}, nsmap=NSMAP
        )

    def next_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}_{n}"

    def md_wrap(
        self,
        parent: etree._Element,
        tag: str,
        mdtype: str,
        content: Iterable[etree._Element],
        *,
        other_mdtype: str | None = None,
        dmd: bool = False,
        created: str | None = None,
    ) -> str:
        return self.section(
            parent, tag, mdtype, content, other_mdtype=other_mdtype, dmd=dmd, created=created
        ).get("ID", "")

    def section(
        self,
        parent: etree._Element,
        tag: str,
        mdtype: str,
        content: Iterable[etree._Element],
        *,
        other_mdtype: str | None = None,
        dmd: bool = False,
        created: str | None = None,
    ) -> etree._Element:
        ident = self.next_id(tag)
        attrib = {"ID": ident}
        if dmd:
            attrib |= {"CREATED": created or self.stamp, "STATUS": "original"}
        section = _SubElement(parent, mets(tag), attrib)
        wrap_attrib = {"MDTYPE": mdtype}
        if other_mdtype is not None:
            wrap_attrib["OTHERMDTYPE"] = other_mdtype
        wrap = _SubElement(section, mets("mdWrap"), wrap_attrib)
        data = _SubElement(wrap, mets("xmlData"))
        data.extend(content)
        return section

    def build(self, normative: bool) -> etree._ElementTree:
        aip = self.aip
        header = {"CREATEDATE": self.created}
        if aip.created is not None:
            header["LASTMODDATE"] = self.stamp
        _SubElement(self.root, mets("metsHdr"), header)
        tree = self._tree()
        ie_id = self.md_wrap(
            self.root,
            "dmdSec",
            "PREMIS:OBJECT",
            [premis.intellectual_entity(aip.uuid, aip.dirname, aip.identifiers)],
            dmd=True,
            created=self.created,
        )
        self._directory_entities(tree)
        self._dublin_core(tree, aip.dublin_core)
        self._descriptive(tree, aip.descriptive)
        files = sorted(aip.files, key=lambda f: f.path)
        admids = {f.uuid: self._amd_sec(f) for f in files}
        self.source_admid = self._source_amd_sec()
        self._file_sec(files, admids)
        self._struct_map(tree, ie_id, "physical", PHYSICAL_LABEL, normative=False)
        if normative:
            self._struct_map(tree, ie_id, "logical", NORMATIVE_LABEL, normative=True)
        for data in aip.structmaps:
            self._extra_struct_map(data)
        return etree.ElementTree(self.root)

    def _extra_struct_map(self, data: bytes) -> None:
        """Append a supplied structMap; an ID it lacks, or one already taken, is replaced
        by the next ``structMap_<n>``."""
        try:
            smap = etree.fromstring(data, safe_parser())
        except etree.XMLSyntaxError as exc:
            raise InvalidInput(f"supplied structMap is not well-formed XML: {exc}") from exc
        if smap.tag != mets("structMap"):
            raise InvalidInput(f"supplied structMap is a {smap.tag}, not a mets:structMap")
        taken = {el.get("ID") for el in self.root.iter() if el.get("ID")}
        ident = smap.get("ID")
        if not ident or ident in taken:
            smap.set("ID", self.next_id("structMap"))
        self.root.append(smap)

    def _tree(self) -> _Dir:
        root = _Dir()
        seen: set[str] = set()
        for f in self.aip.files:
            if f.path in seen:
                raise InvalidInput(f"two files with the same path: {f.path}", {"path": f.path})
            seen.add(f.path)
            *dirs, name = _split(f.path)
            node = root
            node.has_files = True
            for d in dirs:
                node = node.child(d)
                node.has_files = True
            node.files[name] = f
        for entry in self.aip.directories:
            node = root
            for d in _split(entry.path if isinstance(entry, Directory) else entry):
                node = node.child(d)
        return root

    def _directory_entities(self, tree: _Dir) -> None:
        """One PREMIS intellectual-entity dmdSec per directory with a UUID, path order."""
        entries: dict[str, Directory] = {}
        for entry in self.aip.directories:
            if not isinstance(entry, Directory) or entry.uuid is None:
                continue
            path = "/".join(_split(entry.path))
            seen = entries.get(path)
            if seen is not None and seen.uuid != entry.uuid:
                raise InvalidInput(
                    f"two UUIDs for directory {path}: {seen.uuid} and {entry.uuid}",
                    {"path": path},
                )
            entries[path] = entry
        for path, entry in sorted(entries.items()):
            node = self._find_dir(tree, path)
            if node is None or entry.uuid is None:  # _tree() made every listed directory
                continue
            element = premis.intellectual_entity(
                entry.uuid, entry.original_name or f"%SIPDirectory%{path}/", entry.identifiers
            )
            ident = self.md_wrap(
                self.root, "dmdSec", "PREMIS:OBJECT", [element], dmd=True, created=self.created
            )
            # The entity comes first in DMDID, as in Archivematica's createFileSec.
            node.dmdids.insert(0, ident)

    def _find_dir(self, tree: _Dir, path: str) -> _Dir | None:
        node = tree
        for part in _split(path):
            if part not in node.dirs:
                return None
            node = node.dirs[part]
        return node

    def _dublin_core(self, tree: _Dir, records: Iterable[DublinCoreRecord]) -> None:
        by_path = {f.path: f for f in self.aip.files}
        histories: dict[tuple[str, str], list[etree._Element]] = {}
        for record in records:
            dc, other = dublincore.split_columns(record.elements)
            created = mets_timestamp(record.created) if record.created is not None else None
            path = "/".join(_split(record.path))
            ids = []
            if dc:
                section = self.section(
                    self.root,
                    "dmdSec",
                    "DC",
                    [dublincore.dublin_core_element(dc)],
                    dmd=True,
                    created=created,
                )
                histories.setdefault((path, "DC"), []).append(section)
                ids.append(section.get("ID", ""))
            if other:
                section = self.section(
                    self.root,
                    "dmdSec",
                    "OTHER",
                    dublincore.custom_elements(other),
                    other_mdtype="CUSTOM",
                    dmd=True,
                    created=created,
                )
                histories.setdefault((path, "OTHER_CUSTOM"), []).append(section)
                ids.append(section.get("ID", ""))
            target_file = by_path.get(record.path.strip("/"))
            if target_file is not None:
                self.file_dmdids.setdefault(target_file.uuid, []).extend(ids)
                continue
            target_dir = self._find_dir(tree, record.path)
            if target_dir is None:
                raise InvalidInput(
                    f"Dublin Core record for a path not in the AIP: {record.path}",
                    {"path": record.path},
                )
            target_dir.dmdids.extend(ids)
        for (path, mdtype), sections in histories.items():
            _set_statuses(sections, uuid5(self.aip.uuid, f"{path}\n{mdtype}"))

    def _descriptive(self, tree: _Dir, sections: Iterable[DescriptiveSection]) -> None:
        """Further dmdSecs as they are (their mdWrap or mdRef), linked from their path."""
        by_path = {f.path: f for f in self.aip.files}
        for entry in sections:
            content = _supplied_element(entry.content, ("mdWrap", "mdRef"))
            ident = self.next_id("dmdSec")
            section = _SubElement(
                self.root,
                mets("dmdSec"),
                {"ID": ident, "CREATED": self.created, "STATUS": "original"},
            )
            section.append(content)
            path = "/".join(_split(entry.path))
            target_file = by_path.get(path)
            if target_file is not None:
                links = self.file_element_dmdids if entry.on_file else self.file_dmdids
                links.setdefault(target_file.uuid, []).append(ident)
                continue
            target_dir = self._find_dir(tree, path)
            if target_dir is None:
                raise InvalidInput(f"dmdSec for a path not in the AIP: {path}", {"path": path})
            target_dir.dmdids.append(ident)

    def _source_amd_sec(self) -> str | None:
        """The amdSec of the transfers' bag-info.txt, or None when no transfer was a bag."""
        infos = [info for info in self.aip.bag_info if info.fields]
        if not infos:
            return None
        amd_id = self.next_id("amdSec")
        amd = _SubElement(self.root, mets("amdSec"), {"ID": amd_id})
        for info in infos:
            self.md_wrap(
                amd,
                "sourceMD",
                "OTHER",
                [sourcemd.bag_info_element(info.fields)],
                other_mdtype=sourcemd.BAGIT_MDTYPE,
            )
        return amd_id

    def _amd_sec(self, f: AIPFile) -> str:
        amd_id = self.next_id("amdSec")
        amd = _SubElement(self.root, mets("amdSec"), {"ID": amd_id})
        self.md_wrap(amd, "techMD", "PREMIS:OBJECT", [premis.file_object(f)])
        if f.use is FileUse.ORIGINAL:
            for record in f.rights:
                statement = record.uuid or self.new_id()
                element = rights.rights_element(
                    record, statement_uuid=statement, object_uuid=f.uuid
                )
                self.md_wrap(amd, "rightsMD", "PREMIS:RIGHTS", [element])
            for ref in f.rights_refs:
                rights_md = _SubElement(amd, mets("rightsMD"), {"ID": self.next_id("rightsMD")})
                rights_md.append(_supplied_element(ref, ("mdRef",)))
        agents: dict[tuple[str, str], Agent] = {}
        for event in f.events:
            self.md_wrap(amd, "digiprovMD", "PREMIS:EVENT", [premis.event_element(event)])
            for agent in event.agents:
                agents.setdefault(agent.key, agent)
        for agent in agents.values():
            self.md_wrap(amd, "digiprovMD", "PREMIS:AGENT", [premis.agent_element(agent)])
        return amd_id

    def _file_sec(self, files: list[AIPFile], admids: dict[UUID, str]) -> None:
        file_sec = _SubElement(self.root, mets("fileSec"))
        by_use: dict[FileUse, list[AIPFile]] = {}
        for f in files:
            by_use.setdefault(FileUse(f.use), []).append(f)
        for use in FILE_GROUP_ORDER:
            group = by_use.get(use)
            if not group:
                continue
            grp = _SubElement(file_sec, mets("fileGrp"), {"USE": use.value})
            for f in group:
                el = _SubElement(
                    grp,
                    mets("file"),
                    {
                        "ID": f"file-{f.uuid}",
                        "GROUPID": f"Group-{f.group}",
                        "ADMID": admids[f.uuid],
                    },
                )
                if f.uuid in self.file_element_dmdids:
                    el.set("DMDID", " ".join(self.file_element_dmdids[f.uuid]))
                _SubElement(
                    el,
                    mets("FLocat"),
                    {XLINK_HREF: f.path, "LOCTYPE": "OTHER", "OTHERLOCTYPE": "SYSTEM"},
                )

    def _struct_map(
        self, tree: _Dir, ie_id: str, kind: str, label: str, *, normative: bool
    ) -> None:
        smap = _SubElement(
            self.root,
            mets("structMap"),
            {"TYPE": kind, "ID": self.next_id("structMap"), "LABEL": label},
        )
        root_div = _SubElement(
            smap, _DIV, {"TYPE": "Directory", "LABEL": self.aip.dirname, "DMDID": ie_id}
        )
        self._divs(root_div, tree, normative)
        if self.source_admid is not None and not normative:
            objects_div = root_div.find(f"{_DIV}[@LABEL='objects']")
            target = objects_div if objects_div is not None else root_div
            target.set("ADMID", self.source_admid)

    def _divs(self, parent: etree._Element, node: _Dir, normative: bool) -> None:
        for name in sorted(node.dirs.keys() | node.files.keys()):
            sub = node.dirs.get(name)
            if sub is not None:
                if not normative and not sub.has_files:
                    continue
                attrib = {"TYPE": "Directory", "LABEL": name}
                if sub.dmdids:
                    attrib["DMDID"] = " ".join(sub.dmdids)
                self._divs(_SubElement(parent, _DIV, attrib), sub, normative)
            if name in node.files:
                f = node.files[name]
                # A label (file_labels.csv) names the item in both structMaps, as
                # Archivematica's metsrw round trip writes it: metsrw pairs the
                # physical and normative divs by LABEL.
                attrib = {"TYPE": "Item", "LABEL": f.label or name}
                dmdids = self.file_dmdids.get(f.uuid)
                if dmdids:
                    attrib["DMDID"] = " ".join(dmdids)
                div = _SubElement(parent, _DIV, attrib)
                if not normative:
                    _SubElement(div, _FPTR, {"FILEID": f"file-{f.uuid}"})


def _supplied_element(data: bytes, tags: tuple[str, ...]) -> etree._Element:
    """A serialized METS element of one of ``tags`` (taken from another METS)."""
    try:
        element = etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"a metadata section is not well-formed XML: {exc}") from exc
    if element.tag not in {mets(t) for t in tags}:
        raise InvalidInput(f"a metadata section is a {element.tag}, not one of {tags}")
    return element


def _set_statuses(sections: list[etree._Element], group: UUID) -> None:
    """STATUS (and GROUPID) of one path's dmdSecs of one MDTYPE, oldest first."""
    for i, section in enumerate(sections):
        status = "original" if i == 0 else "update"
        if i < len(sections) - 1:
            status += "-superseded"
        section.set("STATUS", status)
        if len(sections) > 1:
            section.set("GROUPID", str(group))


def build_mets(
    aip: AIP,
    *,
    now: Callable[[], datetime] = _utcnow,
    new_id: Callable[[], UUID] = uuid_mod.uuid4,
    normative_structmap: bool = True,
) -> etree._ElementTree:
    """Build the METS tree of ``aip``.

    ``normative_structmap`` adds the logical "Normative Directory Structure" structMap
    (Archivematica's "Document empty directories"). ``new_id`` is only called for
    rights statements that arrive without an identifier. ``now`` is the build time:
    CREATEDATE, or LASTMODDATE when ``aip.created`` marks a reingest.

    Raises:
        InvalidInput: duplicate or non-relative file paths, Dublin Core for a path
            that is neither a file nor a directory of the AIP, two UUIDs for one
            directory, ``aip.created`` later than ``now``, or a bag-info value XML
            cannot carry.
    """
    return _Builder(aip, now(), new_id).build(normative_structmap)


def mets_bytes(tree: etree._ElementTree) -> bytes:
    """Serialize the METS as pretty-printed UTF-8 with an XML declaration."""
    return etree.tostring(tree, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def write_mets(tree: etree._ElementTree, path: Path) -> Path:
    """Write the METS to ``path`` (``data/METS.<sip uuid>.xml`` in the AIP)."""
    try:
        tree.write(str(path), pretty_print=True, xml_declaration=True, encoding="UTF-8")
    except OSError as exc:
        raise StorageError(f"cannot write METS to {path}: {exc}") from exc
    return path
