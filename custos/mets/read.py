"""Read an AIP METS into plain dicts keyed by ID, in linear time.

metsrw resolves every file's amdSec and source file by walking the whole document
(quadratic: minutes for 10,000 files), so reingest, the fixity audit and the API read
METS with this module instead: one safe lxml parse, one pass over the amdSecs, one over
the fileSec.

Usage::

    contents = read_mets(path)
    contents.files["<file uuid>"]["checksum"], contents.events["<event uuid>"]["type"]
    contents.lastmoddate, contents.directories["objects/photos"], contents.bag_info
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from custos.mets.mets import NORMATIVE_LABEL
from custos.mets.ns import XLINK_HREF, XSI_TYPE, mets, premis
from custos.mets.sourcemd import BAGIT_MDTYPE, bag_info_fields
from custos.mets.validate import parse_mets

_MDWRAP = mets("mdWrap")
_XMLDATA = mets("xmlData")


@dataclass
class METSContents:
    """What a METS says: files by file UUID, events by event UUID, agents by
    ``"<identifier type>:<identifier value>"``; ``createdate`` and ``lastmoddate``
    (empty unless reingested) from the metsHdr.

    ``directories`` maps a directory path relative to ``data/`` (``objects/photos``)
    to the UUID of its PREMIS intellectual entity, from the physical and normative
    structMaps (the AIP's own root div is left out); ``dmdsecs`` gives each dmdSec's
    ``mdtype``, ``othermdtype``, ``status``, ``created`` and ``group`` by ID;
    ``bag_info`` holds the (label, value) pairs of each BagIt ``sourceMD``, in
    document order.
    """

    createdate: str = ""
    lastmoddate: str = ""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    directories: dict[str, str] = field(default_factory=dict)
    dmdsecs: dict[str, dict[str, str]] = field(default_factory=dict)
    bag_info: list[list[tuple[str, str]]] = field(default_factory=list)


_PREFIX = premis("")
_P = len(_PREFIX)
_AGENT_TYPE = premis("linkingAgentIdentifierType")
_AGENT_VALUE = premis("linkingAgentIdentifierValue")


def _leaves(el: etree._Element) -> dict[str, str]:
    """Text of every descendant by PREMIS local name, first occurrence wins.

    One C-level pass over the subtree: ElementPath ``find`` with multi-step paths
    runs in Python and made reading 10,000 files several times slower.
    """
    out: dict[str, str] = {}
    for child in el.iterdescendants():
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(_PREFIX):
            name = tag[_P:]
            if name not in out:
                out[name] = child.text or ""
    return out


def _object(obj: etree._Element) -> dict[str, Any]:
    v = _leaves(obj)
    size = v.get("size", "")
    return {
        "uuid": v.get("objectIdentifierValue", ""),
        "checksum": v.get("messageDigest", ""),
        "checksum_algorithm": v.get("messageDigestAlgorithm", ""),
        "size": int(size) if size.isdigit() else None,
        "format_name": v.get("formatName", ""),
        "format_version": v.get("formatVersion", ""),
        "puid": v.get("formatRegistryKey", ""),
        "original_name": v.get("originalName", ""),
        "relationships": [
            {
                "sub_type": r.get("relationshipSubType", ""),
                "related_uuid": r.get("relatedObjectIdentifierValue", ""),
                "event_uuid": r.get("relatedEventIdentifierValue", ""),
            }
            for r in map(_leaves, obj.iterchildren(premis("relationship")))
        ],
    }


def _event(evt: etree._Element) -> dict[str, Any]:
    v = _leaves(evt)
    types = [e.text or "" for e in evt.iter(_AGENT_TYPE)]
    values = [e.text or "" for e in evt.iter(_AGENT_VALUE)]
    return {
        "uuid": v.get("eventIdentifierValue", ""),
        "type": v.get("eventType", ""),
        "datetime": v.get("eventDateTime", ""),
        "detail": v.get("eventDetail", ""),
        "outcome": v.get("eventOutcome", ""),
        "outcome_detail_note": v.get("eventOutcomeDetailNote", ""),
        "agents": [f"{t}:{val}" for t, val in zip(types, values, strict=False)],
    }


def _payload(section: etree._Element) -> tuple[str, etree._Element | None]:
    wrap = section.find(_MDWRAP)
    if wrap is None:
        return "", None
    data = wrap.find(_XMLDATA)
    return wrap.get("MDTYPE", ""), (data[0] if data is not None and len(data) else None)


def _amd_sec(amd: etree._Element, contents: METSContents) -> dict[str, Any]:
    info: dict[str, Any] = {"events": [], "agents": [], "rights": 0}
    for section in amd:
        mdtype, payload = _payload(section)
        if payload is None:
            continue
        if mdtype == "PREMIS:OBJECT":
            info.update(_object(payload))
        elif mdtype == "PREMIS:EVENT":
            event = _event(payload)
            contents.events[event["uuid"]] = event
            info["events"].append(event["uuid"])
        elif mdtype == "PREMIS:AGENT":
            v = _leaves(payload)
            key = f"{v.get('agentIdentifierType', '')}:{v.get('agentIdentifierValue', '')}"
            contents.agents[key] = {"name": v.get("agentName", ""), "type": v.get("agentType", "")}
            info["agents"].append(key)
        elif mdtype == "PREMIS:RIGHTS":
            info["rights"] += 1
    return info


def _dmd_secs(root: etree._Element) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """dmdSec attributes by ID, and the object UUID of each intellectual-entity dmdSec."""
    infos: dict[str, dict[str, str]] = {}
    entities: dict[str, str] = {}
    for dmd in root.iterfind(mets("dmdSec")):
        ident = dmd.get("ID", "")
        wrap = dmd.find(_MDWRAP)
        mdtype, payload = _payload(dmd)
        infos[ident] = {
            "mdtype": mdtype,
            "othermdtype": wrap.get("OTHERMDTYPE", "") if wrap is not None else "",
            "status": dmd.get("STATUS", ""),
            "created": dmd.get("CREATED", ""),
            "group": dmd.get("GROUPID", ""),
        }
        if (
            mdtype == "PREMIS:OBJECT"
            and payload is not None
            and payload.get(XSI_TYPE, "").endswith("intellectualEntity")
        ):
            entities[ident] = _leaves(payload).get("objectIdentifierValue", "")
    return infos, entities


def _directory_uuids(root: etree._Element, entities: dict[str, str]) -> dict[str, str]:
    """Directory path -> entity UUID, from the Directory divs of the physical structMap
    and of the normative one (the only one listing empty directories)."""
    out: dict[str, str] = {}
    # The AIP's root div has no path: its entity is the AIP, not a directory.
    stack: list[tuple[etree._Element, str]] = [
        (div, "")
        for smap in root.iterfind(mets("structMap"))
        if smap.get("TYPE") == "physical" or smap.get("LABEL") == NORMATIVE_LABEL
        for div in smap.iterfind(mets("div"))
    ]
    while stack:
        div, path = stack.pop()
        for dmdid in div.get("DMDID", "").split() if path else ():
            if dmdid in entities:
                out[path] = entities[dmdid]
                break
        for child in div.iterfind(mets("div")):
            if child.get("TYPE", "").lower() == "directory":
                label = child.get("LABEL", "")
                stack.append((child, f"{path}/{label}" if path else label))
    return out


def _bag_info(root: etree._Element) -> list[list[tuple[str, str]]]:
    out = []
    for wrap in root.iterfind(f"{mets('amdSec')}/{mets('sourceMD')}/{_MDWRAP}"):
        if wrap.get("OTHERMDTYPE") != BAGIT_MDTYPE:
            continue
        data = wrap.find(_XMLDATA)
        if data is not None and len(data):
            out.append(bag_info_fields(data[0]))
    return out


TRANSFER_PREFIX = "%transferDirectory%"


def original_path(info: dict[str, Any], path: str) -> str:
    """The path a file had in its transfer, from its PREMIS ``originalName``
    (``%transferDirectory%objects/a b.txt``); ``path`` for files made later.

    Reingest keeps it, so metadata files naming files as they arrived still match."""
    name = str(info.get("original_name") or "")
    return name.removeprefix(TRANSFER_PREFIX) if name.startswith(TRANSFER_PREFIX) else path


def read_mets(source: Path | bytes) -> METSContents:
    """Read files (with their PREMIS object, event and agent keys), events, agents,
    dmdSecs, directory UUIDs and bag-info."""
    root = parse_mets(source).getroot()
    contents = METSContents()
    header = root.find(mets("metsHdr"))
    if header is not None:
        contents.createdate = header.get("CREATEDATE", "")
        contents.lastmoddate = header.get("LASTMODDATE", "")
    contents.dmdsecs, entities = _dmd_secs(root)
    contents.directories = _directory_uuids(root, entities)
    contents.bag_info = _bag_info(root)
    amd_secs = {amd.get("ID", ""): _amd_sec(amd, contents) for amd in root.iterfind(mets("amdSec"))}
    for grp in root.iterfind(f"{mets('fileSec')}/{mets('fileGrp')}"):
        use = grp.get("USE", "")
        for f in grp.iterfind(mets("file")):
            file_id = f.get("ID", "")
            flocat = f.find(mets("FLocat"))
            info = dict(amd_secs.get(f.get("ADMID", ""), {}))
            uuid = info.get("uuid") or file_id.removeprefix("file-")
            info |= {
                "uuid": uuid,
                "id": file_id,
                "use": use,
                "group": f.get("GROUPID", "").removeprefix("Group-"),
                "path": flocat.get(XLINK_HREF, "") if flocat is not None else "",
            }
            contents.files[uuid] = info
    return contents
