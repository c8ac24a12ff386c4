"""An AIP built from a transfer carrying every supplied metadata file keeps what they
said through a metadata reingest and a full reingest."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import LocationPurpose, Package, UnitStatus
from custos.reingest import approve_reingest, start_reingest
from custos.storage import default_location
from tasks.tools.compress import extract_aip

from .test_transfer_custom_structmap import STRUCTMAP
from .test_transfer_identifiers import IDENTIFIERS
from .test_transfer_premis_events import PREMIS
from .test_transfer_rights import HEADER
from .transfer_metadata_support import NS, make_source, run_inline, run_to_aip, unit

IDS = [dict(IDENTIFIERS[0], file="objects/letters/a.txt"), IDENTIFIERS[2]]


def _facts(mets_path: Path) -> dict[str, object]:
    """What the supplied files put into a METS, independent of UUIDs and dates."""
    assert mets_problems(mets_path) == []
    tree = etree.parse(str(mets_path))
    maps = tree.findall("mets:structMap", NS)
    return {
        "rights": sorted(
            t.text or "" for t in tree.iterfind(".//premis:rightsStatement/premis:rightsBasis", NS)
        ),
        "terms": tree.findtext(".//premis:licenseTerms", namespaces=NS),
        "labels": sorted(
            d.get("LABEL", "")
            for d in maps[0].iterfind(".//mets:div[@TYPE='Item']", NS)
            if "(" in d.get("LABEL", "")
        ),
        "ids": sorted(
            v.text or ""
            for v in tree.iterfind(".//premis:objectIdentifierValue", NS)
            if (v.text or "").startswith(("https://", "EX-"))
        ),
        "capture": len(
            [e for e in tree.iterfind(".//premis:eventType", NS) if e.text == "capture"]
        ),
        "structmaps": [m.get("LABEL") for m in maps],
        "titles": sorted(t.text or "" for t in tree.iterfind(".//dc:title", NS)),
    }


def _stored_mets(sip_uuid: str, into: Path) -> Path:
    with session_scope() as s:
        pkg = s.get(Package, sip_uuid)
        assert pkg is not None
    store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
    return extract_aip(store / pkg.path, into) / "data" / f"METS.{sip_uuid}.xml"


def test_supplied_metadata_survives_metadata_and_full_reingest(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "everything",
        {
            "objects/letters/a.txt": "a\n",
            "objects/scan.txt": "scan\n",
            "objects/notes.txt": "notes\n",
            "objects/cover page.txt": "cover\n",
            "objects/chapter1/p1.txt": "page one\n",
            "metadata/rights.csv": HEADER
            + "objects/letters/a.txt,license,,,,,,CC BY 4.0,,,publish,allow,,,,,,\n",
            "metadata/metadata.json": json.dumps(
                [{"filename": "objects/letters/a.txt", "dc.title": "Letter A"}]
            ),
            "metadata/identifiers.json": json.dumps(IDS),
            "metadata/premis.xml": PREMIS,
            "metadata/file_labels.csv": "scan.txt,Scan (1919)\n",
            "metadata/mets_structmap.xml": STRUCTMAP,
        },
    )
    aip = run_to_aip(src, tmp_path, "everything")
    expected = {
        "rights": ["License"],
        "terms": "CC BY 4.0",
        "labels": ["Scan (1919)"],
        "ids": ["EX-42", "https://hdl.handle.net/20.500.1/A"],
        "capture": 2,
        "structmaps": ["Archivematica default", "Normative Directory Structure", "Book"],
        "titles": ["Letter A"],
    }
    assert _facts(aip.mets_path) == expected

    assert run_inline(lambda: start_reingest(aip.sip_uuid, "metadata")) == aip.sip_uuid

    def approve() -> str:
        approve_reingest(aip.sip_uuid, by="archivist")
        return aip.sip_uuid

    run_inline(approve)
    assert unit(aip.sip_uuid).status == UnitStatus.COMPLETE, unit(aip.sip_uuid).error
    assert _facts(_stored_mets(aip.sip_uuid, tmp_path / "metadata")) == expected

    transfer = run_inline(lambda: start_reingest(aip.sip_uuid, "full"))
    assert unit(transfer).status == UnitStatus.COMPLETE, unit(transfer).error
    assert unit(aip.sip_uuid).status == UnitStatus.COMPLETE, unit(aip.sip_uuid).error
    assert _facts(_stored_mets(aip.sip_uuid, tmp_path / "full")) == expected
