"""Nothing enters an AIP unchecked: files added during ingest (``copy_metadata_files``,
submission documentation) are scanned, identified and characterized before the METS
is written, with their events in the AIP METS and Task rows for each job."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from custos import decisions
from custos.db import session_scope
from custos.errors import CustosError, InvalidInput
from custos.mets.read import read_mets
from custos.models import (
    Event,
    File,
    Job,
    JobStatus,
    Location,
    LocationPurpose,
    Package,
    Task,
    Unit,
    UnitStatus,
)
from custos.storage import default_location
from flows.ingest import ingest
from tasks.ingest import steps
from tests.support.samples import EICAR

from .conftest import AUTOMATED, SipFactory, make_pdf, make_png

#: Everything answered except *Reminder: add metadata if desired*: the SIP waits there.
OPTIONS = {k: v for k, v in AUTOMATED.items() if k != "add_metadata_reminder"} | {
    "normalize": "none",
    "compression_algorithm": "uncompressed",
}
CHECKS = {"ingestion", "message digest calculation", "virus check", "format identification"}


@pytest.fixture(scope="module")
def client(custos_home: Path) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture()
def auth(custos_home: Path) -> dict[str, str]:
    from custos.accounts import create_api_key, create_user

    user = create_user(f"md-archivist-{uuid4().hex[:12]}", role="archivist")
    assert user.id is not None
    return {"Authorization": f"ApiKey {user.username}:{create_api_key(user.id)}"}


@pytest.fixture()
def source(custos_home: Path, tmp_path: Path) -> Iterator[tuple[Location, Path]]:
    """A folder in the default transfer source, removed afterwards."""
    ts = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(ts.path) / f"md-{tmp_path.name}"
    folder.mkdir()
    yield ts, folder
    shutil.rmtree(folder, ignore_errors=True)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def waiting_sip(make_sip: SipFactory) -> str:
    uuid, _ = make_sip({"objects/photo.png": make_png}, name="mdsip", options=OPTIONS)
    assert ingest.fn(uuid) == "wait"
    assert _pending(uuid) is not None
    return uuid


def _pending(uuid: str) -> dict[str, object] | None:
    return next((d for d in decisions.waiting() if d["unit_uuid"] == uuid), None)


def continue_ingest(uuid: str) -> str:
    """Answer *Reminder: add metadata if desired* (Continue) and run the flow on."""
    pending = _pending(uuid)
    assert pending is not None and pending["decision"] == "Reminder: add metadata if desired"
    choices = pending["choices"]
    assert isinstance(choices, list)
    decisions.answer(str(pending["job_uuid"]), str(choices[0]["id"]), resubmit=False)
    return str(ingest.fn(uuid))


def copy(client: TestClient, auth: dict[str, str], sip: str, ts: Location, *rels: str) -> None:
    res = client.post(
        "/api/ingest/copy_metadata_files/",
        headers=auth,
        data={"sip_uuid": sip, "source_paths[]": [b64(f"{ts.uuid}:{r}") for r in rels]},
    )
    assert res.status_code == 201, res.text


def test_added_metadata_and_submission_documents_are_checked_before_the_mets(
    make_sip: SipFactory,
    aip_store: Path,
    client: TestClient,
    auth: dict[str, str],
    source: tuple[Location, Path],
) -> None:
    ts, folder = source
    (folder / "notes.txt").write_text("Deposited with the collection.\n")
    make_png(folder / "scan.png")
    (folder / "submissionDocumentation").mkdir()
    make_pdf(folder / "submissionDocumentation" / "agreement.pdf")
    sip = waiting_sip(make_sip)

    copy(
        client,
        auth,
        sip,
        ts,
        f"{folder.name}/notes.txt",
        f"{folder.name}/scan.png",
        f"{folder.name}/submissionDocumentation",
    )
    assert continue_ingest(sip) == "complete"

    added = {
        "objects/metadata/notes.txt",
        "objects/metadata/scan.png",
        "objects/submissionDocumentation/agreement.pdf",
    }
    with session_scope() as s:
        pkg = s.get(Package, sip)
        rows = {
            f.current_path: f
            for f in s.exec(
                select(File).where(col(File.sip_uuid) == sip, col(File.current_path).in_(added))
            )
        }
        jobs = {j.name: j for j in s.exec(select(Job).where(col(Job.unit_uuid) == sip))}
        tasks = {
            (t.job_uuid, t.file_uuid)
            for t in s.exec(
                select(Task).where(col(Task.file_uuid).in_([f.uuid for f in rows.values()]))
            )
        }
    assert pkg is not None and set(rows) == added
    assert rows["objects/metadata/scan.png"].puid in {"fmt/11", "fmt/12", "fmt/13"}  # PNG
    assert rows["objects/submissionDocumentation/agreement.pdf"].puid
    assert "<" in (rows["objects/metadata/scan.png"].characterization or "")  # ExifTool XML
    # Archivematica's jobs, each with a Task row for each file it checked.
    metadata_jobs = (
        "Assign file UUIDs to metadata",
        "Assign checksums and file sizes to metadata",
        "Scan for viruses in metadata",
        "Identify file format of metadata files",
    )
    for name in metadata_jobs:
        job = jobs[name]
        assert job.microservice == "Process metadata directory"
        assert job.status == JobStatus.COMPLETE
        for path in ("objects/metadata/notes.txt", "objects/metadata/scan.png"):
            assert (job.uuid, rows[path].uuid) in tasks, (name, path)
    assert jobs["Scan for viruses in metadata"].link_uuid == "8bc92801-4308-4e3b-885b-1a89fdcd3014"
    docs = rows["objects/submissionDocumentation/agreement.pdf"].uuid
    for name in (
        "Scan for viruses in submission documentation",
        "Identify file format",
        "Assign checksums and file sizes to submissionDocumentation",
    ):
        assert jobs[name].microservice == "Process submission documentation"
        assert (jobs[name].uuid, docs) in tasks, name
    characterized = jobs["Characterize and extract metadata on metadata files"]
    assert (characterized.uuid, rows["objects/metadata/scan.png"].uuid) in tasks
    # ... before the METS was written: every check job precedes it.
    mets_job = jobs["Generate METS.xml document"]
    for name in (*metadata_jobs, "Scan for viruses in submission documentation"):
        assert jobs[name].seq < mets_job.seq

    # The stored AIP's METS carries the events of each added file.
    mets = read_mets(aip_store / pkg.path / "data" / f"METS.{sip}.xml")
    by_path = {f["path"]: f for f in mets.files.values()}
    for path in added:
        described = by_path[path]
        events = [mets.events[e] for e in described["events"]]
        assert CHECKS <= {e["type"] for e in events}, (path, events)
        scan = next(e for e in events if e["type"] == "virus check")
        assert scan["outcome"] == "Pass" and "ClamAV" in scan["detail"]
        digest = next(e for e in events if e["type"] == "message digest calculation")
        assert digest["outcome_detail_note"] == rows[path].checksum
    assert by_path["objects/metadata/scan.png"]["use"] == "metadata"
    assert (
        by_path["objects/submissionDocumentation/agreement.pdf"]["use"] == "submissionDocumentation"
    )


def test_an_infected_metadata_file_fails_the_sip_naming_it(
    make_sip: SipFactory,
    aip_store: Path,
    client: TestClient,
    auth: dict[str, str],
    source: tuple[Location, Path],
) -> None:
    ts, folder = source
    (folder / "readme.txt").write_text("harmless\n")
    (folder / "eicar.txt").write_bytes(EICAR)
    sip = waiting_sip(make_sip)
    copy(client, auth, sip, ts, f"{folder.name}/readme.txt", f"{folder.name}/eicar.txt")

    with pytest.raises(CustosError, match="eicar.txt"):
        continue_ingest(sip)

    with session_scope() as s:
        unit = s.get(Unit, sip)
        assert unit is not None and unit.status == UnitStatus.FAILED
        error = unit.error or ""
        job = s.exec(
            select(Job).where(
                col(Job.unit_uuid) == sip, col(Job.name) == "Scan for viruses in metadata"
            )
        ).one()
        infected = s.exec(
            select(File).where(
                col(File.sip_uuid) == sip, col(File.current_path) == "objects/metadata/eicar.txt"
            )
        ).one()
        event = s.exec(
            select(Event).where(
                col(Event.file_uuid) == infected.uuid, col(Event.event_type) == "virus check"
            )
        ).one()
        assert s.get(Package, sip) is None  # no AIP
        mets_jobs = s.exec(
            select(Job).where(
                col(Job.unit_uuid) == sip, col(Job.name) == "Generate METS.xml document"
            )
        ).all()
    assert "objects/metadata/eicar.txt" in error and "EICAR" in error
    assert "readme.txt" not in error
    assert job.status == JobStatus.FAILED
    assert event.outcome == "Fail" and "EICAR" in (event.outcome_note or "")
    assert mets_jobs == []
    assert not any(aip_store.glob(f"*{sip}*"))


def test_a_file_slipped_into_metadata_after_processing_fails_the_sip(
    make_sip: SipFactory, aip_store: Path
) -> None:
    sip = waiting_sip(make_sip)
    pending = _pending(sip)
    assert pending is not None and isinstance(pending["choices"], list)
    decisions.answer(str(pending["job_uuid"]), str(pending["choices"][0]["id"]), resubmit=False)
    assert steps.add_final_metadata.fn(sip) == "continue"
    assert steps.process_metadata.fn(sip) == "continue"
    with session_scope() as s:
        unit = s.get(Unit, sip)
        assert unit is not None and unit.current_path
        sip_dir = Path(unit.current_path)
    (sip_dir / "metadata").mkdir()
    (sip_dir / "metadata" / "late.txt").write_text("never scanned\n")

    with pytest.raises(InvalidInput, match="never checked"):
        ingest.fn(sip)

    with session_scope() as s:
        unit = s.get(Unit, sip)
        assert unit is not None and unit.status == UnitStatus.FAILED
        assert "metadata/late.txt" in (unit.error or "")
        assert "never checked" in (unit.error or "")
        assert s.get(Package, sip) is None
