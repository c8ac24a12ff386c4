"""Ingest decisions from custos.processing, rights.csv in the METS, the DIP decisions,
and ingest run through the real Prefect engine (alone and after a transfer)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import col, select

from custos import decisions, dispatch
from custos.db import session_scope
from custos.errors import CustosError, InvalidInput
from custos.models import File, Package, PackageStatus, UnitStatus
from custos.processing import ProcessingConfig, to_xml
from flows.ingest import ingest
from tests.support.transfers import transfer_to_aip, unit

from .conftest import AUTOMATED, SipFactory, make_png

PREMIS = "http://www.loc.gov/premis/v3"
NS = {"mets": "http://www.loc.gov/METS/", "premis": PREMIS}


def _answer(uuid: str, name: str, label: str) -> None:
    pending = decisions.pending(uuid, name)
    assert pending is not None, f"{name} is not waiting"
    choice = next(c["id"] for c in pending.choices if c["label"] == label)
    decisions.answer(pending.job_uuid, choice, resubmit=False)


def test_sip_processing_mcp_decides_and_rights_csv_reaches_the_mets(
    make_sip: SipFactory, aip_store: Path
) -> None:
    rights = (
        "file,basis,status,determination_date,jurisdiction,note,grant_act,"
        "grant_restriction,grant_start_date,grant_end_date,grant_note\n"
        "objects/a.txt,copyright,copyrighted,2020-05-01,ca,Held by the donor,"
        "disseminate,disallow,2020-05-01,OPEN,Until the donor dies\n"
        "objects/a.txt,license,,,,CC BY 4.0,publish,allow,,,\n"
    )
    uuid, root = make_sip(
        {"objects/a.txt": "restricted\n", "objects/b.txt": "open\n", "metadata/rights.csv": rights},
        name="rights",
        config="default",
    )
    # The named "default" config would ask Normalize: the SIP's own file must win.
    own = ProcessingConfig(
        normalize="none",
        approve_normalization="approve",
        add_metadata_reminder=True,
        transcribe=False,
        identify_ingest=False,
        policy_checks_preservation=False,
        policy_checks_access=False,
        bind_pids=False,
        document_empty_dirs=False,
        store_aip=True,
        aip_location="/api/v2/location/default/AS/",
        compression_algorithm="uncompressed",
    )
    (root / "processingMCP.xml").write_bytes(to_xml(own))

    assert ingest.fn(uuid) == "complete", unit(uuid).error

    mets = aip_store / f"rights-{uuid}" / "data" / f"METS.{uuid}.xml"
    tree = etree.parse(str(mets))
    with session_scope() as s:
        files = {
            f.current_path: f.uuid
            for f in s.exec(
                select(File).where(col(File.sip_uuid) == uuid, col(File.use) == "original")
            )
        }

    def statements(path: str) -> list[etree._Element]:
        amd = tree.xpath("//mets:file[@ID=$id]/@ADMID", namespaces=NS, id=f"file-{files[path]}")[0]
        return tree.xpath(
            "//mets:amdSec[@ID=$amd]/mets:rightsMD//premis:rightsStatement", namespaces=NS, amd=amd
        )

    a = statements("objects/a.txt")
    assert [s.findtext(f"{{{PREMIS}}}rightsBasis") for s in a] == ["Copyright", "License"]
    copyright_ = a[0]
    assert copyright_.findtext(f".//{{{PREMIS}}}copyrightStatus") == "copyrighted"
    assert copyright_.findtext(f".//{{{PREMIS}}}copyrightJurisdiction") == "ca"
    assert copyright_.findtext(f".//{{{PREMIS}}}copyrightNote") == "Held by the donor"
    assert copyright_.findtext(f".//{{{PREMIS}}}act") == "disseminate"
    assert copyright_.findtext(f".//{{{PREMIS}}}restriction") == "Disallow"
    assert (
        copyright_.findtext(f".//{{{PREMIS}}}linkingObjectIdentifierValue")
        == files["objects/a.txt"]
    )
    assert a[1].findtext(f".//{{{PREMIS}}}licenseNote") == "CC BY 4.0"
    assert statements("objects/b.txt") == []


def test_rights_csv_naming_a_missing_file_fails_the_sip(make_sip: SipFactory) -> None:
    uuid, _ = make_sip(
        {"objects/a.txt": "x\n", "metadata/rights.csv": "file,basis\nobjects/nope.txt,copyright\n"},
        name="badrights",
        options=AUTOMATED | {"normalize": "none"},
    )
    with pytest.raises(CustosError, match="objects/nope.txt"):
        ingest.fn(uuid)
    row = unit(uuid)
    assert row.status == UnitStatus.FAILED and "objects/nope.txt" in (row.error or "")


def test_upload_dip_store_dip_and_location_are_asked(make_sip: SipFactory, dip_store: Path) -> None:
    unset = {"upload_dip": None, "store_dip": None, "dip_location": None}
    refused, _ = make_sip({"objects/p.png": make_png}, name="atom", options=AUTOMATED | unset)
    assert ingest.fn(refused) == "wait"
    pending = decisions.pending(refused, "Upload DIP")
    assert pending is not None and pending.link_uuid == "92879a29-45bf-4f0b-ac43-e64474f0f2f9"
    assert [c["label"] for c in pending.choices] == [
        "Upload DIP to AtoM",
        "Upload DIP to ArchivesSpace",
        "Upload DIP to CONTENTdm",
        "Do not upload DIP",
    ]
    _answer(refused, "Upload DIP", "Upload DIP to AtoM")
    with pytest.raises(InvalidInput, match="AtoM is not supported"):
        ingest.fn(refused)
    assert "AtoM is not supported" in (unit(refused).error or "")

    uuid, _ = make_sip({"objects/p.png": make_png}, name="dip", options=AUTOMATED | unset)
    assert ingest.fn(uuid) == "wait"
    _answer(uuid, "Upload DIP", "Do not upload DIP")
    assert ingest.fn(uuid) == "wait"
    _answer(uuid, "Store DIP?", "Store DIP")
    assert ingest.fn(uuid) == "wait"
    location = decisions.pending(uuid, "Store DIP location")
    assert location is not None and location.choices
    decisions.answer(location.job_uuid, location.choices[0]["id"], resubmit=False)
    assert ingest.fn(uuid) == "complete"
    with session_scope() as s:
        dip = s.exec(
            select(Package).where(
                col(Package.package_type) == "DIP", col(Package.name) == f"dip-{uuid}"
            )
        ).one()
    assert list((dip_store / dip.path / "objects").iterdir())


def test_ingest_runs_through_the_prefect_engine(
    make_sip: SipFactory, aip_store: Path, prefect_server: str
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    uuid, _ = make_sip(
        {"objects/a.txt": "through the engine\n"},
        name="engine",
        options=AUTOMATED | {"normalize": "none"},
    )
    state = ingest(uuid, return_state=True)
    assert state.is_completed() and state.result() == "complete"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
    assert (aip_store / pkg.path).is_file()
    expected = {
        "Verify SIP compliance",
        "Normalize",
        "Prepare AIP",
        "Store AIP",
        "Remove the processing directory",
    }
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    # Prefect 3 reports task runs through its event stream: the last ones reach the
    # server shortly after the flow returns, so poll for them (bounded).
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
                limit=200,
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )
            names = {t.name.rsplit("-", 1)[0] for t in tasks}
            if expected <= names or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert run.state is not None and run.state.is_completed()
    assert expected <= names


def test_transfer_to_stored_aip_through_flows(
    custos_home: Path, tmp_path: Path, aip_store: Path, prefect_server: str
) -> None:
    from custos.transfers import start_transfer

    src = tmp_path / "source"
    src.mkdir()
    make_png(src / "photo.png")
    (src / "notes.txt").write_text("kept for ever\n")
    backend = dispatch.inline_backend()
    backend.errors.clear()  # of earlier tests
    dispatch.set_backend(backend)
    try:
        _, sip = transfer_to_aip(
            backend, start_transfer("fullrun", src, processing_config="automated")
        )
    finally:
        dispatch.set_backend(None)
    with session_scope() as s:
        pkg = s.get(Package, sip.uuid)
        preservation = s.exec(
            select(File).where(col(File.sip_uuid) == sip.uuid, col(File.use) == "preservation")
        ).all()
    assert pkg is not None and pkg.status == PackageStatus.STORED
    assert (aip_store / pkg.path).is_file() and pkg.path == f"fullrun-{sip.uuid}.7z"
    # automated: normalize for preservation (the PNG became a TIFF), no thumbnails.
    assert [Path(p.current_path).suffix for p in preservation] == [".tif"]
