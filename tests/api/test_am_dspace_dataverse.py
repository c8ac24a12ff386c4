"""The ``dspace`` and ``dataverse`` transfer types, end to end: a DSpace item export
through the Archivematica API and a Dataverse dataset through the CLI become stored
AIPs whose METS (read back with metsrw, validated) shows what each type maps, where
Archivematica puts it: a DSpace item's mets.xml as submission documentation referenced
from its original (dmdSecs and rightsMD), a dataset's DDI codebook linked from
``objects``, a tabular bundle's derivatives and every MD5 checked."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import Any

import metsrw
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlmodel import col, select
from typer.testing import CliRunner

from custos import processing
from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import Event, File, LocationPurpose, UnitStatus
from custos.storage import default_location
from tests.support.dataverse import dataset_json, write_dataset_files
from tests.support.transfers import transfer_to_aip, unit

NS = {
    "mets": "http://www.loc.gov/METS/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "xlink": "http://www.w3.org/1999/xlink",
    "ddi": "http://www.icpsr.umich.edu/DDI",
}
HREF = "{http://www.w3.org/1999/xlink}href"
QUIET = processing.ProcessingConfig(
    assign_uuids_to_directories=False,
    virus_scanning=True,
    transfer_structure_report=False,
    identify_transfer=True,
    identify_submission_docs=True,
    identify_ingest=False,
    extract_packages=True,
    delete_packages=True,
    policy_checks_originals=False,
    examine_contents=False,
    create_sip="single",
    normalize="none",
    approve_normalization="approve",
    thumbnails="none",
    policy_checks_preservation=False,
    policy_checks_access=False,
    bind_pids=False,
    document_empty_dirs=False,
    add_metadata_reminder=True,
    transcribe=False,
    compression_algorithm="uncompressed",
    store_aip=True,
    aip_location="/api/v2/location/default/AS/",
    upload_dip="none",
    store_dip=False,
)

DIM = "http://www.dspace.org/xmlns/dspace/dim"
DSPACE_METS = f"""<?xml version="1.0" encoding="utf-8"?>
<mets xmlns="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink"
      xmlns:dim="{DIM}" OBJID="hdl:123456789/1" TYPE="DSpace ITEM">
  <dmdSec ID="dmdSec_2190"><mdWrap MDTYPE="MODS"><xmlData/></mdWrap></dmdSec>
  <dmdSec ID="dmdSec_2191"><mdWrap MDTYPE="OTHER" OTHERMDTYPE="DIM"><xmlData/></mdWrap></dmdSec>
  <amdSec ID="amd_2192">
    <rightsMD ID="rightsMD_2193"><mdWrap MDTYPE="OTHER" OTHERMDTYPE="METSRIGHTS"><xmlData/>
    </mdWrap></rightsMD>
    <rightsMD ID="rightsMD_2194"><mdWrap MDTYPE="OTHER" OTHERMDTYPE="DSPACE-CC"><xmlData/>
    </mdWrap></rightsMD>
    <sourceMD ID="sourceMD_2195"><mdWrap MDTYPE="OTHER" OTHERMDTYPE="AIP-TECHMD"><xmlData>
      <dim:dim dspaceType="ITEM">
        <dim:field mdschema="dc" element="identifier" qualifier="uri">hdl:123456789/1</dim:field>
        <dim:field mdschema="dc" element="relation" qualifier="isPartOf">hdl:123456789/7</dim:field>
      </dim:dim>
    </xmlData></mdWrap></sourceMD>
  </amdSec>
  <fileSec>
    <fileGrp USE="ORIGINAL">
      <file ID="bitstream_1" MIMETYPE="text/plain">
        <FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="bitstream_1.txt"/>
      </file>
    </fileGrp>
    <fileGrp USE="LICENSE">
      <file ID="bitstream_2" MIMETYPE="text/plain">
        <FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="bitstream_2.txt"/>
      </file>
    </fileGrp>
    <fileGrp USE="TEXT">
      <file ID="bitstream_3" MIMETYPE="text/plain">
        <FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="bitstream_3.txt"/>
      </file>
    </fileGrp>
  </fileSec>
  <structMap><div TYPE="DSpace Item"/></structMap>
</mets>
"""
#: The collection the item belongs to, exported beside it (its rights apply to the item).
COLLECTION_METS = """<?xml version="1.0" encoding="utf-8"?>
<mets xmlns="http://www.loc.gov/METS/" OBJID="hdl:123456789/7" TYPE="DSpace COLLECTION">
  <dmdSec ID="dmdSec_1"><mdWrap MDTYPE="MODS"><xmlData/></mdWrap></dmdSec>
  <amdSec ID="amd_2">
    <rightsMD ID="rightsMD_3"><mdWrap MDTYPE="OTHER" OTHERMDTYPE="METSRIGHTS"><xmlData/>
    </mdWrap></rightsMD>
  </amdSec>
  <structMap><div TYPE="DSpace COLLECTION"/></structMap>
</mets>
"""


def _mets(uuid: str, name: str) -> Path:
    store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
    path = store / f"{name}-{uuid}" / "data" / f"METS.{uuid}.xml"
    assert mets_problems(path) == []
    return path


def _groups(tree: etree._ElementTree) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for grp in tree.iterfind(".//mets:fileSec/mets:fileGrp", NS):
        hrefs = {f.get(HREF, "") for f in grp.iterfind(".//mets:FLocat", NS)}
        out[grp.get("USE", "")] = {h.rsplit("/", 1)[-1] for h in hrefs}
    return out


def _file(tree: etree._ElementTree, name: str) -> etree._Element:
    """The ``mets:file`` whose FLocat ends with ``/name``."""
    (found,) = tree.xpath(
        "//mets:fileSec//mets:file[mets:FLocat[substring(@xlink:href, string-length(@xlink:href)"
        " - string-length($n))=concat('/', $n)]]",
        namespaces=NS,
        n=name,
    )
    return found


def _dmd(tree: etree._ElementTree, ident: str) -> etree._Element:
    (found,) = tree.xpath("//mets:dmdSec[@ID=$i]", namespaces=NS, i=ident)
    return found


def test_dspace_export_through_the_archivematica_api(
    client: TestClient, auth: dict[str, str], inline_flows: Any
) -> None:
    processing.save("dspaceq", QUIET)
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / "dspace-export"
    source.mkdir()
    with zipfile.ZipFile(source / "ITEM@123456789-1.zip", "w") as z:
        z.writestr("mets.xml", DSPACE_METS)
        z.writestr("bitstream_1.txt", "the item itself\n")
        z.writestr("bitstream_2.txt", "licence granted to the repository\n")
        z.writestr("bitstream_3.txt", "extracted full text\n")
    with zipfile.ZipFile(source / "COLLECTION@123456789-7.zip", "w") as z:
        z.writestr("mets.xml", COLLECTION_METS)
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    path = base64.b64encode(f"{loc.uuid}:dspace-export".encode()).decode()
    body = {"name": "dsp", "path": path, "type": "dspace", "processing_config": "dspaceq"}
    started = client.post("/api/v2beta/package/", json=body, headers=auth)
    assert started.status_code == 202, started.text
    transfer_uuid = started.json()["id"]
    transfer, sip = transfer_to_aip(inline_flows, transfer_uuid)
    assert transfer.transfer_type == "dspace"

    mets_path = _mets(sip.uuid, "dsp")
    tree = etree.parse(str(mets_path))
    groups = _groups(tree)
    assert groups["original"] == {"bitstream_1.txt"}
    assert groups["license"] == {"bitstream_2.txt"}
    assert groups["text/ocr"] == {"bitstream_3.txt"}
    # The DSpace METS files are submission documentation, as Archivematica lists them.
    assert "mets.xml" in groups["submissionDocumentation"]
    original = _file(tree, "bitstream_1.txt")
    item_mets = tree.xpath(
        "//mets:fileGrp[@USE='submissionDocumentation']/mets:file"
        "[contains(mets:FLocat/@xlink:href, 'ITEM')]",
        namespaces=NS,
    )[0]
    item_mets_href = item_mets.find("mets:FLocat", NS).get(HREF)
    # The item's files share its original's group.
    for name in ("bitstream_2.txt", "bitstream_3.txt"):
        assert _file(tree, name).get("GROUPID") == original.get("GROUPID")
    assert item_mets.get("GROUPID") == original.get("GROUPID")
    # Two dmdSecs on the original's mets:file: an mdRef to the item's mets.xml pointing
    # at its dmdSecs, and DC with the item's and the collection's handles.
    ref_id, dc_id = original.get("DMDID", "").split()
    ref = _dmd(tree, ref_id).find("mets:mdRef", NS)
    original_uuid = original.get("ID", "").removeprefix("file-")
    assert ref.get("LABEL") == f"mets.xml-Group-{original_uuid}"
    assert ref.get(HREF) == item_mets_href and item_mets_href.endswith("/mets.xml")
    assert (ref.get("MDTYPE"), ref.get("LOCTYPE"), ref.get("OTHERLOCTYPE")) == (
        "OTHER",
        "OTHER",
        "SYSTEM",
    )
    assert ref.get("XPTR") == "xpointer(id('dmdSec_2190 dmdSec_2191'))"
    dc = _dmd(tree, dc_id).find("mets:mdWrap[@MDTYPE='DC']/mets:xmlData/dcterms:dublincore", NS)
    assert dc.findtext("dcterms:isPartOf", namespaces=NS) == "hdl:123456789/7"
    assert dc.findtext("dc:identifier", namespaces=NS) == "hdl:123456789/1"
    # A rightsMD per DSpace METS with rights: the item's and its collection's.
    amd = original.get("ADMID")
    rights_refs = tree.xpath("//mets:amdSec[@ID=$a]/mets:rightsMD/mets:mdRef", namespaces=NS, a=amd)
    by_xptr = {r.get("XPTR"): r for r in rights_refs}
    assert set(by_xptr) == {
        "xpointer(id('rightsMD_2193 rightsMD_2194'))",
        "xpointer(id('rightsMD_3'))",
    }
    item_rights = by_xptr["xpointer(id('rightsMD_2193 rightsMD_2194'))"]
    assert item_rights.get("OTHERMDTYPE") == "METSRIGHTS"
    assert item_rights.get(HREF) == item_mets_href
    assert item_rights.get("LABEL") == f"mets.xml-{item_mets.get('ID', '').removeprefix('file-')}"
    assert "COLLECTION" in by_xptr["xpointer(id('rightsMD_3'))"].get(HREF, "")
    doc = metsrw.METSDocument.fromfile(str(mets_path))
    assert {e.use for e in doc.all_files() if e.type == "Item"} >= {
        "original",
        "license",
        "text/ocr",
        "submissionDocumentation",
    }
    status = client.get(f"/api/transfer/status/{transfer_uuid}/", headers=auth).json()
    assert status["status"] == "COMPLETE" and status["type"] == "transfer"


def test_dataverse_dataset_through_the_cli(
    custos_home: Path, tmp_path: Path, inline_flows: Any
) -> None:
    from cli.main import app

    processing.save("dataverseq", QUIET)
    src = tmp_path / "dataset"
    write_dataset_files(src)
    data = dataset_json(src)
    (src / "dataset.json").write_text(json.dumps(data))
    result = CliRunner().invoke(
        app,
        ["transfer", "start", str(src), "--type", "dataverse", "--config", "dataverseq"]
        + ["--name", "dv", "--wait", "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["transfer"]["status"] == "COMPLETE" and out["ingest"]["status"] == "COMPLETE"
    sip_uuid = out["ingest"]["uuid"]

    mets_path = _mets(sip_uuid, "dv")
    tree = etree.parse(str(mets_path))
    # The dataset's DDI codebook and the reference to dataset.json, linked from objects.
    (objects_div,) = tree.xpath(
        "//mets:structMap[@TYPE='physical']//mets:div[@LABEL='objects']", namespaces=NS
    )
    linked = [_dmd(tree, i) for i in objects_div.get("DMDID", "").split()]
    (ddi,) = [d for d in linked if d.find("mets:mdWrap[@MDTYPE='DDI']", NS) is not None]
    book = ddi.find("mets:mdWrap/mets:xmlData/ddi:codebook", NS)
    assert book.findtext(".//ddi:titl", namespaces=NS) == "A small survey"
    (idno,) = book.iterfind(".//ddi:IDNo", NS)
    assert (idno.get("agency"), idno.text) == ("doi", data["persistentUrl"])
    assert [a.text for a in book.iterfind(".//ddi:AuthEnty", NS)] == ["Doe, Jane", "Roe, Richard"]
    assert book.findtext(".//ddi:distrbtr", namespaces=NS) == "Example Dataverse"
    assert book.findtext(".//ddi:version", namespaces=NS) == "1.0"
    (dataset_ref,) = [
        d.find("mets:mdRef", NS) for d in linked if d.find("mets:mdRef", NS) is not None
    ]
    assert dataset_ref.get("LABEL") == "dataset.json" and dataset_ref.get("MDTYPE") == "OTHER"
    assert not tree.xpath("//mets:mdWrap[@MDTYPE='DC']", namespaces=NS), "DDI, not DC"
    # The tabular file's div points at its bundle's DDI.
    (tab_div,) = tree.xpath(
        "//mets:structMap[@TYPE='physical']//mets:div[@LABEL='answers.tab']", namespaces=NS
    )
    (tab_ref,) = [_dmd(tree, i).find("mets:mdRef", NS) for i in tab_div.get("DMDID", "").split()]
    assert tab_ref.get("MDTYPE") == "DDI" and tab_ref.get(HREF) == "answers/answers-ddi.xml"
    # Roles: the bundle's copies are derivatives of the uploaded file, in its group.
    groups = _groups(tree)
    # (read me.txt, renamed read_me.txt, is still the file dataset.json names)
    assert {"survey.csv", "read_me.txt", "answers.dta"} <= groups["original"]
    assert groups["derivative"] == {"answers.tab", "answers.RData"}
    assert {"answers-ddi.xml", "answerscitation-bib.bib", "dataset.json", "METS.xml"} <= groups[
        "metadata"
    ]
    dta = _file(tree, "answers.dta")
    for name in ("answers.tab", "answers.RData"):
        assert _file(tree, name).get("GROUPID") == dta.get("GROUPID")
    rows = {r.current_path: r for r in _sip_files(sip_uuid)}
    dta_row, tab_row = rows["objects/answers/answers.dta"], rows["objects/answers/answers.tab"]
    assert tab_row.derived_from == dta_row.uuid
    # ... with a derivation event on the original and the PREMIS relationships.
    with session_scope() as s:
        derivations = s.exec(
            select(Event).where(
                col(Event.file_uuid) == dta_row.uuid, col(Event.event_type) == "derivation"
            )
        ).all()
    assert len(derivations) == 2
    doc = metsrw.METSDocument.fromfile(str(mets_path))
    entry = doc.get_file(file_uuid=dta_row.uuid)
    assert entry is not None
    (premis_object,) = entry.get_premis_objects()
    related = {
        (r.relationship_sub_type, r.related_object_identifier[0].related_object_identifier_value)
        for r in premis_object.findall("relationship")
    }
    assert ("is source of", tab_row.uuid) in related
    assert "derivation" in {e.event_type for e in entry.get_premis_events()}
    # Identify file format of metadata files: the dataset's METS and JSON.
    with session_scope() as s:
        identified = s.exec(
            select(File.current_path)
            .join(Event, col(Event.file_uuid) == col(File.uuid))
            .where(
                col(File.sip_uuid) == sip_uuid,
                col(File.use) == "metadata",
                col(Event.event_type) == "format identification",
            )
        ).all()
    assert {Path(p).name for p in identified} >= {"METS.xml", "dataset.json"}
    # Every MD5 the dataset gives was checked.
    with session_scope() as s:
        checked = s.exec(
            select(File.current_path, Event.outcome, Event.outcome_note)
            .join(Event, col(Event.file_uuid) == col(File.uuid))
            .where(
                col(File.sip_uuid) == sip_uuid,
                col(Event.event_type) == "fixity check",
                col(Event.detail).contains("md5"),
            )
        ).all()
    assert sorted(p for p, _, _ in checked) == [
        "objects/answers/answers.dta",
        "objects/data/survey.csv",
        "objects/read_me.txt",
    ]
    assert all(
        o == "Pass" and n.startswith("Dataverse checksum ") and n.endswith(" verified")
        for _, o, n in checked
    )


def _sip_files(sip_uuid: str) -> list[File]:
    with session_scope() as s:
        return list(s.exec(select(File).where(col(File.sip_uuid) == sip_uuid)).all())


def test_dataverse_checksum_mismatch_fails_naming_the_file(
    custos_home: Path, tmp_path: Path, recorded_runs: Any
) -> None:
    from custos.transfers import start_transfer
    from flows.transfer import run_transfer

    processing.save("dataverseq", QUIET)
    src = tmp_path / "dataset"
    write_dataset_files(src)
    data = dataset_json(src)
    (src / "read me.txt").write_text("changed after export\n")
    (src / "dataset.json").write_text(json.dumps(data))
    uuid = start_transfer("dvbad", src, "dataverse", "dataverseq")
    with pytest.raises(Exception, match="read me.txt"):
        run_transfer(uuid, use_prefect=False)
    row = unit(uuid)
    assert row.status == UnitStatus.FAILED and "read me.txt: MD5" in (row.error or "")


def test_dataverse_bundle_file_missing_fails_naming_it(
    custos_home: Path, tmp_path: Path, recorded_runs: Any
) -> None:
    from custos.transfers import start_transfer
    from flows.transfer import run_transfer

    processing.save("dataverseq", QUIET)
    src = tmp_path / "dataset"
    write_dataset_files(src)
    data = dataset_json(src)
    (src / "answers" / "answers.RData").unlink()
    (src / "dataset.json").write_text(json.dumps(data))
    uuid = start_transfer("dvgone", src, "dataverse", "dataverseq")
    with pytest.raises(Exception, match="answers.RData"):
        run_transfer(uuid, use_prefect=False)
    assert "answers/answers.RData: listed in dataset.json" in (unit(uuid).error or "")


def test_dataverse_through_the_archivematica_api_is_a_dataverse_transfer(
    client: TestClient, auth: dict[str, str], recorded_runs: Any
) -> None:
    processing.save("dataverseq", QUIET)
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / "dataset"
    write_dataset_files(source)
    (source / "dataset.json").write_text(json.dumps(dataset_json(source)))
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    path = base64.b64encode(f"{loc.uuid}:dataset".encode()).decode()
    body = {"name": "dvapi", "path": path, "type": "dataverse", "processing_config": "dataverseq"}
    started = client.post("/api/v2beta/package/", json=body, headers=auth)
    assert started.status_code == 202, started.text
    uuid = started.json()["id"]
    assert unit(uuid).transfer_type == "dataverse"
    assert ("transfer", {"unit_uuid": uuid}) in recorded_runs.submitted


def test_dspace_export_through_the_cli(
    custos_home: Path, tmp_path: Path, inline_flows: Any
) -> None:
    from cli.main import app

    processing.save("dspaceq", QUIET)
    source = tmp_path / "export"
    source.mkdir()
    with zipfile.ZipFile(source / "ITEM@123456789-1.zip", "w") as z:
        z.writestr("mets.xml", DSPACE_METS)
        z.writestr("bitstream_1.txt", "the item itself\n")
        z.writestr("bitstream_2.txt", "licence granted to the repository\n")
        z.writestr("bitstream_3.txt", "extracted full text\n")
    result = CliRunner().invoke(
        app,
        ["transfer", "start", str(source), "--type", "dspace", "--config", "dspaceq"]
        + ["--name", "dspcli", "--wait", "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["ingest"]["status"] == "COMPLETE"
    groups = _groups(etree.parse(str(_mets(out["ingest"]["uuid"], "dspcli"))))
    assert groups["license"] == {"bitstream_2.txt"}
    assert groups["submissionDocumentation"] >= {"mets.xml"}
