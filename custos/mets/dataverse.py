"""Dataverse datasets in METS, as Archivematica writes and reads them.

Archivematica's *Convert Dataverse structure* (``convert_dataverse_structure.py``)
turns a dataset's ``dataset.json`` (Dataverse's native JSON export) into a METS
document, ``metadata/METS.xml`` of the transfer; *Parse Dataverse METS XML*
(``parse_dataverse_mets.py``) then reads it to give the files their roles, record the
derivations of tabular bundles and check the checksums; *Generate AIP METS*
(``create_mets_dataverse_v2.py``) copies its dataset-level dmdSecs (the DDI codebook,
and a reference to ``dataset.json``) into the AIP METS, linked from the ``objects``
div, and each tabular file's DDI reference, linked from that file's div.

The Dataverse METS, as Archivematica writes it:

- ``dmdSec_1``: ``mdWrap MDTYPE="DDI"`` holding a DDI Codebook 2.5 ``ddi:codebook``
  (:func:`codebook`): title, ``IDNo`` with its ``agency`` (the persistent identifier
  and its protocol), the authors (``AuthEnty``), the distributor (the publisher), the
  version (number, release date, state) and the terms of use.
- ``dmdSec_2``: ``mdRef MDTYPE="OTHER" LABEL="dataset.json"`` to
  ``metadata/dataset.json``.
- one ``mdRef MDTYPE="DDI"`` per tabular file, to the ``<name>-ddi.xml`` of its bundle.
- a fileSec with each file's MD5 (``CHECKSUM``/``CHECKSUMTYPE``) and ``USE``:
  ``original``; in a tabular bundle (a ``.tab`` file Dataverse made from a file its
  depositor uploaded), the uploaded file is the ``original``, the ``.tab`` and
  ``.RData`` copies are ``derivative`` (in the original's ``GROUPID``: derived from
  it), the ``-ddi.xml`` and the three citation files ``metadata``.
- a physical structMap whose root div (the dataset, ``LABEL`` its title) carries the
  two dataset-level dmdSecs.

Example::

    tree = dataverse_mets(json.loads(text), created=now, namespace=transfer_uuid)
    read_dataverse_mets(path).files      # [DatasetFile(path, use, md5, derived_from)]
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from uuid import UUID

from lxml import etree

from custos.errors import InvalidInput
from custos.mets.ns import (
    METS_SCHEMA_LOCATION,
    NSMAP,
    XLINK_HREF,
    XPATH_NS,
    XSI_NS,
    XSI_SCHEMA_LOCATION,
    mets,
    safe_parser,
)

DDI_NS = "http://www.icpsr.umich.edu/DDI"
#: Archivematica's schemaLocation of the codebook, as it writes it.
DDI_SCHEMA_LOCATION = (
    "http://www.ddi:codebook:2_5 "
    "http://www.ddialliance.org/Specification/DDI-Codebook/2.5/XMLSchema/codebook.xsd"
)
DATASET = "dataset.json"
#: A tabular file's ``originalFormatLabel`` -> the extension of the uploaded file.
EXTENSION_MAPPING = {
    "Comma Separated Values": ".csv",
    "MS Excel (XLSX)": ".xlsx",
    "R Data": ".RData",
    "SPSS Portable": ".por",
    "SPSS SAV": ".sav",
    "Stata Binary": ".dta",
    "Stata 13 Binary": ".dta",
}
ORIGINAL, DERIVATIVE, METADATA = "original", "derivative", "metadata"


@dataclass(frozen=True)
class DatasetFile:
    """One file of the dataset: path (relative to the transfer's ``objects/``), role,
    the MD5 Dataverse gives, and the path of the file it derives from."""

    path: str
    use: str = ORIGINAL
    md5: str = ""
    derived_from: str = ""
    ddi: str = ""  # a tabular file: the path of its bundle's -ddi.xml


@dataclass
class DataverseMets:
    """What the AIP METS takes from a Dataverse METS."""

    dataset_sections: list[etree._Element] = field(default_factory=list)
    file_sections: dict[str, list[etree._Element]] = field(default_factory=dict)
    files: list[DatasetFile] = field(default_factory=list)


def dataset_version(data: dict[str, Any]) -> dict[str, Any]:
    """The dataset version described: ``datasetVersion`` (a web UI export) or
    ``latestVersion`` (the API's), as Archivematica reads it."""
    version = data.get("datasetVersion") or data.get("latestVersion")
    if not isinstance(version, dict):
        raise InvalidInput(f"{DATASET} has no datasetVersion: not a Dataverse dataset export")
    return version


def _fields(version: dict[str, Any]) -> dict[str, Any]:
    blocks = version.get("metadataBlocks") or {}
    fields = (blocks.get("citation") or {}).get("fields") or []
    return {str(f.get("typeName")): f.get("value") for f in fields if isinstance(f, dict)}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def authors(version: dict[str, Any]) -> list[str]:
    """The ``authorName`` of each author of the citation block."""
    out = []
    for entry in _fields(version).get("author") or []:
        name = (entry.get("authorName") or {}).get("value") if isinstance(entry, dict) else None
        if _text(name):
            out.append(_text(name))
    return out


def title(version: dict[str, Any]) -> str:
    """The dataset's title; InvalidInput when the citation block has none."""
    value = _text(_fields(version).get("title"))
    if not value:
        raise InvalidInput(f"{DATASET}: the citation metadata block has no title")
    return value


def _ddi(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> Any:
    el = etree.SubElement(parent, f"{{{DDI_NS}}}{tag}", attrib)
    if text is not None:
        el.text = text
    return el


def codebook(data: dict[str, Any]) -> etree._Element:
    """The dataset's DDI Codebook 2.5, the elements Archivematica writes (every author
    is an ``AuthEnty``; Archivematica's first is the first)."""
    version = dataset_version(data)
    root = etree.Element(
        f"{{{DDI_NS}}}codebook",
        {XSI_SCHEMA_LOCATION: DDI_SCHEMA_LOCATION, "version": "2.5"},
        nsmap={"ddi": DDI_NS, "xsi": XSI_NS},
    )
    study = _ddi(root, "stdyDscr")
    citation = _ddi(study, "citation")
    statement = _ddi(citation, "titlStmt")
    _ddi(statement, "titl", title(version))
    _ddi(statement, "IDNo", _text(data.get("persistentUrl")), agency=_text(data.get("protocol")))
    responsibility = _ddi(citation, "rspStmt")
    for name in authors(version) or [""]:
        _ddi(responsibility, "AuthEnty", name)
    _ddi(_ddi(citation, "distStmt"), "distrbtr", _text(data.get("publisher")))
    number = f"{version.get('versionNumber', '')}.{version.get('versionMinorNumber', '')}"
    _ddi(
        _ddi(citation, "verStmt"),
        "version",
        number,
        date=_text(version.get("releaseTime")),
        type=_text(version.get("versionState")),
    )
    use = _ddi(_ddi(study, "dataAccs"), "useStmt")
    _ddi(use, "restrctn", _text(version.get("termsOfUse")))
    return root


def _bundle(entry: dict[str, Any], folder: str) -> list[DatasetFile]:
    """The files of a tabular bundle, named as Dataverse names them."""
    data_file = entry.get("dataFile") or {}
    label = _text(entry.get("label")) or _text(data_file.get("filename"))
    base = label[:-4]
    where = f"{folder}/{base}" if folder else base
    ext = EXTENSION_MAPPING.get(_text(data_file.get("originalFormatLabel")))
    uploaded = f"{base}{ext}" if ext else _text(data_file.get("filename"))
    original = f"{where}/{uploaded}"
    out = [DatasetFile(original, ORIGINAL, _md5(data_file))]
    if _text(data_file.get("originalFormatLabel")) != "R Data":
        out.append(DatasetFile(f"{where}/{base}.RData", DERIVATIVE, derived_from=original))
    ddi = f"{where}/{base}-ddi.xml"
    tab = f"{where}/{_text(data_file.get('filename')) or label}"
    out.append(DatasetFile(tab, DERIVATIVE, derived_from=original, ddi=ddi))
    for name in ("-ddi.xml", "citation-endnote.xml", "citation-ris.ris", "citation-bib.bib"):
        out.append(DatasetFile(f"{where}/{base}{name}", METADATA))
    return out


def _md5(data_file: dict[str, Any]) -> str:
    checksum = data_file.get("checksum") or {}
    value = data_file.get("md5") or (checksum.get("value") if checksum.get("type") == "MD5" else "")
    return _text(value).lower()


def dataset_files(data: dict[str, Any]) -> list[DatasetFile]:
    """Every file the dataset lists, in its ``directoryLabel`` folder; a tabular file
    (``.tab``) as its bundle's seven files."""
    out: list[DatasetFile] = []
    for entry in dataset_version(data).get("files") or []:
        if not isinstance(entry, dict):
            continue
        data_file = entry.get("dataFile") or {}
        name = _text(data_file.get("filename")) or _text(entry.get("label"))
        if not name:
            raise InvalidInput(f"{DATASET}: a file entry has no filename")
        folder = _text(entry.get("directoryLabel")).strip("/")
        if name.endswith(".tab"):
            out.extend(_bundle(entry, folder))
        else:
            out.append(DatasetFile(f"{folder}/{name}" if folder else name, md5=_md5(data_file)))
    for f in out:
        p = PurePosixPath(f.path)
        if p.is_absolute() or ".." in p.parts:
            raise InvalidInput(f"{DATASET}: {f.path!r} is not a path inside the dataset")
    return out


def _mets_el(parent: etree._Element, tag: str, **attrib: str) -> Any:
    return etree.SubElement(parent, mets(tag), attrib)


def _md_ref(parent: etree._Element, href: str, mdtype: str, label: str) -> None:
    attrib = {
        "LABEL": label,
        XLINK_HREF: href,
        "MDTYPE": mdtype,
        "LOCTYPE": "OTHER",
        "OTHERLOCTYPE": "SYSTEM",
    }
    etree.SubElement(parent, mets("mdRef"), attrib)


def dataverse_mets(data: dict[str, Any], *, created: datetime, namespace: UUID) -> Any:
    """The Dataverse METS of a dataset (file UUIDs derived from ``namespace`` and the
    path, so one transfer always writes the same document)."""
    files = dataset_files(data)
    version = dataset_version(data)
    root = etree.Element(mets("mets"), {XSI_SCHEMA_LOCATION: METS_SCHEMA_LOCATION}, nsmap=NSMAP)
    _mets_el(root, "metsHdr", CREATEDATE=created.strftime("%Y-%m-%dT%H:%M:%S"))
    stamp = {"CREATED": created.strftime("%Y-%m-%dT%H:%M:%S"), "STATUS": "original"}
    ddi_sec = _mets_el(root, "dmdSec", ID="dmdSec_1", **stamp)
    wrap = _mets_el(ddi_sec, "mdWrap", MDTYPE="DDI")
    _mets_el(wrap, "xmlData").append(codebook(data))
    ref_sec = _mets_el(root, "dmdSec", ID="dmdSec_2", **stamp)
    _md_ref(ref_sec, f"metadata/{DATASET}", "OTHER", DATASET)
    file_dmd: dict[str, str] = {}
    for f in files:
        if f.ddi:
            ident = f"dmdSec_{len(file_dmd) + 3}"
            _md_ref(_mets_el(root, "dmdSec", ID=ident, **stamp), f.ddi, "DDI", Path(f.ddi).name)
            file_dmd[f.path] = ident
    listed = [*files, DatasetFile(f"metadata/{DATASET}", METADATA)]
    ids = {f.path: uuid_mod.uuid5(namespace, f.path) for f in listed}
    file_sec = _mets_el(root, "fileSec")
    for use in (ORIGINAL, DERIVATIVE, METADATA):
        group = [f for f in listed if f.use == use]
        if not group:
            continue
        grp = _mets_el(file_sec, "fileGrp", USE=use)
        for f in group:
            source = f.derived_from if f.use == DERIVATIVE else f.path
            attrib = {"ID": f"file-{ids[f.path]}", "GROUPID": f"Group-{ids[source]}"}
            if f.md5:
                attrib |= {"CHECKSUM": f.md5, "CHECKSUMTYPE": "MD5"}
            el = _mets_el(grp, "file", **attrib)
            _mets_el(el, "FLocat", LOCTYPE="OTHER", OTHERLOCTYPE="SYSTEM", **{XLINK_HREF: f.path})
    smap = _mets_el(
        root, "structMap", TYPE="physical", ID="structMap_1", LABEL="Archivematica default"
    )
    top = _mets_el(smap, "div", TYPE="Directory", LABEL=title(version), DMDID="dmdSec_1 dmdSec_2")
    dirs: dict[str, Any] = {"": top}
    for f in sorted(listed, key=lambda f: f.path):
        parent = ""
        for part in PurePosixPath(f.path).parent.parts:
            key = f"{parent}/{part}" if parent else part
            if key not in dirs:
                dirs[key] = _mets_el(dirs[parent], "div", TYPE="Directory", LABEL=part)
            parent = key
        attrib = {"TYPE": "Item", "LABEL": PurePosixPath(f.path).name}
        if f.path in file_dmd:
            attrib["DMDID"] = file_dmd[f.path]
        _mets_el(_mets_el(dirs[parent], "div", **attrib), "fptr", FILEID=f"file-{ids[f.path]}")
    return etree.ElementTree(root)


def read_dataverse_mets(path: Path) -> DataverseMets:
    """The dataset-level and per-file dmdSecs and the files of a Dataverse METS.

    Raises:
        InvalidInput: not a readable METS with a physical structMap.
    """
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise InvalidInput(f"{path.name}: not a readable Dataverse METS: {exc}") from exc
    smap = root.find("mets:structMap[@TYPE='physical']", XPATH_NS)
    if smap is None or root.tag != mets("mets"):
        raise InvalidInput(f"{path.name}: not a Dataverse METS (no physical structMap)")
    sections = {s.get("ID"): s for s in root.iterfind("mets:dmdSec", XPATH_NS)}

    def linked(div: etree._Element) -> list[etree._Element]:
        return [sections[i] for i in (div.get("DMDID") or "").split() if i in sections]

    out = DataverseMets()
    top = smap.find("mets:div", XPATH_NS)
    if top is not None:
        out.dataset_sections = linked(top)
    files = {}
    for el in root.iterfind("mets:fileSec/mets:fileGrp/mets:file", XPATH_NS):
        flocat = el.find("mets:FLocat", XPATH_NS)
        href = flocat.get(XLINK_HREF, "") if flocat is not None else ""
        files[el.get("ID")] = (el, el.getparent().get("USE", ORIGINAL), href)
    by_group = {el.get("ID", "").removeprefix("file-"): href for el, _use, href in files.values()}
    for div in smap.iter(mets("div")):
        fptr = div.find("mets:fptr", XPATH_NS)
        if fptr is None or fptr.get("FILEID") not in files:
            continue
        el, use, href = files[fptr.get("FILEID")]
        if href == f"metadata/{DATASET}":
            continue
        source = by_group.get(el.get("GROUPID", "").removeprefix("Group-"), href)
        out.files.append(
            DatasetFile(
                href,
                use,
                (el.get("CHECKSUM") or "").lower() if el.get("CHECKSUMTYPE") == "MD5" else "",
                source if source != href else "",
            )
        )
        if linked(div):
            out.file_sections[href] = linked(div)
    return out
