"""The ``dspace`` and ``dataverse`` transfer types, end to end: a DSpace item export
through the Archivematica API and a Dataverse dataset through the CLI become stored
AIPs whose METS (read back with metsrw, validated) shows what each type maps."""

from __future__ import annotations

import base64
import hashlib
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
from custos.models import Event, File, LocationPurpose, Unit, UnitStatus
from custos.storage import default_location

NS = {"mets": "http://www.loc.gov/METS/", "dc": "http://purl.org/dc/elements/1.1/"}
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

DSPACE_METS = """<?xml version="1.0" encoding="utf-8"?>
<mets xmlns="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink"
      OBJID="hdl:123456789/1" TYPE="DSpace ITEM">
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


def _unit(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def _mets(uuid: str, name: str) -> Path:
    store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
    path = store / f"{name}-{uuid}" / "data" / f"METS.{uuid}.xml"
    assert mets_problems(path) == []
    return path


def _groups(tree: etree._ElementTree) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for grp in tree.iterfind(".//mets:fileSec/mets:fileGrp", NS):
        hrefs = {
            f.get("{http://www.w3.org/1999/xlink}href", "")
            for f in grp.iterfind(".//mets:FLocat", NS)
        }
        out[grp.get("USE", "")] = {h.rsplit("/", 1)[-1] for h in hrefs}
    return out


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
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    path = base64.b64encode(f"{loc.uuid}:dspace-export".encode()).decode()
    body = {"name": "dsp", "path": path, "type": "dspace", "processing_config": "dspaceq"}
    started = client.post("/api/v2beta/package/", json=body, headers=auth)
    assert started.status_code == 202, started.text
    transfer_uuid = started.json()["id"]
    assert inline_flows.wait_all(900)
    transfer = _unit(transfer_uuid)
    assert transfer.status == UnitStatus.COMPLETE, transfer.error
    assert transfer.transfer_type == "dspace"
    assert inline_flows.wait_all(900)
    sip_uuid = transfer.sip_uuid or ""
    assert _unit(sip_uuid).status == UnitStatus.COMPLETE, _unit(sip_uuid).error

    mets_path = _mets(sip_uuid, "dsp")
    groups = _groups(etree.parse(str(mets_path)))
    assert groups["original"] == {"bitstream_1.txt"}
    assert groups["license"] == {"bitstream_2.txt"}
    assert groups["text/ocr"] == {"bitstream_3.txt"}
    assert "mets.xml" in groups["metadata"]
    doc = metsrw.METSDocument.fromfile(str(mets_path))
    assert {e.use for e in doc.all_files() if e.type == "Item"} >= {
        "original",
        "license",
        "text/ocr",
        "metadata",
    }
    status = client.get(f"/api/transfer/status/{transfer_uuid}/", headers=auth).json()
    assert status["status"] == "COMPLETE" and status["type"] == "transfer"


def _dataset(root: Path) -> dict[str, Any]:
    (root / "data").mkdir(parents=True)
    (root / "data" / "survey.csv").write_text("q,a\n1,yes\n")
    (root / "readme.txt").write_text("About the survey\n")

    def md5(path: Path) -> str:
        return hashlib.md5(path.read_bytes()).hexdigest()

    return {
        "id": 42,
        "persistentUrl": "https://doi.org/10.5072/FK2/ABCDEF",
        "publisher": "Example Dataverse",
        "datasetVersion": {
            "versionState": "RELEASED",
            "releaseTime": "2024-03-01T10:00:00Z",
            "metadataBlocks": {
                "citation": {
                    "fields": [
                        {"typeName": "title", "value": "A small survey"},
                        {
                            "typeName": "author",
                            "value": [
                                {"authorName": {"value": "Doe, Jane"}},
                                {"authorName": {"value": "Roe, Richard"}},
                            ],
                        },
                        {
                            "typeName": "dsDescription",
                            "value": [{"dsDescriptionValue": {"value": "Answers to one question"}}],
                        },
                        {"typeName": "subject", "value": ["Social Sciences"]},
                    ]
                }
            },
            "files": [
                {
                    "directoryLabel": "data",
                    "dataFile": {
                        "filename": "survey.csv",
                        "checksum": {"type": "MD5", "value": md5(root / "data" / "survey.csv")},
                    },
                },
                {"dataFile": {"filename": "readme.txt", "md5": md5(root / "readme.txt")}},
            ],
        },
    }


def test_dataverse_dataset_through_the_cli(
    custos_home: Path, tmp_path: Path, inline_flows: Any
) -> None:
    from cli.main import app

    processing.save("dataverseq", QUIET)
    src = tmp_path / "dataset"
    (src / "dataset.json").parent.mkdir(parents=True, exist_ok=True)
    data = _dataset(src)
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

    tree = etree.parse(str(_mets(sip_uuid, "dv")))
    objects_dc = tree.xpath(
        "//mets:dmdSec/mets:mdWrap[@MDTYPE='DC']//dc:title/text()", namespaces=NS
    )
    assert objects_dc == ["A small survey"]
    creators = tree.xpath(
        "//mets:dmdSec/mets:mdWrap[@MDTYPE='DC']//dc:creator/text()", namespaces=NS
    )
    assert creators == ["Doe, Jane", "Roe, Richard"]
    assert tree.xpath("//dc:identifier/text()", namespaces=NS) == [data["persistentUrl"]]
    groups = _groups(tree)
    assert {"survey.csv", "readme.txt"} <= groups["original"]
    assert "dataset.json" in groups["metadata"]
    with session_scope() as s:
        rows = s.exec(select(File).where(col(File.sip_uuid) == sip_uuid)).all()
        checked = s.exec(
            select(File.current_path)
            .join(Event, col(Event.file_uuid) == col(File.uuid))
            .where(
                col(File.sip_uuid) == sip_uuid,
                col(Event.event_type) == "fixity check",
                col(Event.outcome) == "pass",
                col(Event.detail).contains("md5"),
            )
        ).all()
    assert sorted(checked) == ["objects/data/survey.csv", "objects/readme.txt"], rows


def test_dataverse_checksum_mismatch_fails_naming_the_file(
    custos_home: Path, tmp_path: Path, recorded_runs: Any
) -> None:
    from custos.transfers import start_transfer
    from flows.transfer import run_transfer

    processing.save("dataverseq", QUIET)
    src = tmp_path / "dataset"
    data = _dataset(src)
    (src / "readme.txt").write_text("changed after export\n")
    (src / "dataset.json").write_text(json.dumps(data))
    uuid = start_transfer("dvbad", src, "dataverse", "dataverseq")
    with pytest.raises(Exception, match="readme.txt"):
        run_transfer(uuid, use_prefect=False)
    unit = _unit(uuid)
    assert unit.status == UnitStatus.FAILED and "readme.txt: MD5" in (unit.error or "")
