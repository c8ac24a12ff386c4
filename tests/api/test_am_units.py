"""Transfer and ingest status, listings, hiding, approval and reingest endpoints."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from custos.db import session_scope
from custos.decisions import Choice, ask
from custos.models import Package, PackageStatus, UnitType
from custos.recorder import Recorder
from custos.storage import LocationPurpose, default_location
from tests.api.am_helpers import add_jobs, make_unit, set_unit

APPROVE_CHOICES = [
    Choice("6953950b-c101-4f4c-a0c3-0cd0684afe5e", "Approve transfer"),
    Choice("1b04ec43-055c-43b7-9543-bd03c6a778ba", "Reject transfer"),
]


def status(client: TestClient, auth: dict[str, str], kind: str, uuid: str) -> Any:
    return client.get(f"/api/{kind}/status/{uuid}/", headers=auth)


def test_status_unknown_unit_and_unit_without_jobs(
    client: TestClient, auth: dict[str, str]
) -> None:
    unknown = "11111111-2222-3333-4444-555555555555"
    res = status(client, auth, "transfer", unknown)
    assert res.status_code == 400
    assert res.json() == {
        "type": "transfer",
        "error": True,
        "message": f"Cannot fetch unitTransfer with UUID {unknown}",
    }
    res = status(client, auth, "ingest", unknown)
    assert res.json()["message"] == f"Cannot fetch unitSIP with UUID {unknown}"
    assert res.json()["type"] == "SIP"
    uuid = make_unit()
    res = status(client, auth, "transfer", uuid)
    assert res.status_code == 400
    assert res.json() == {
        "error": True,
        "message": f"Unable to determine the status of the unit {uuid}",
    }
    assert status(client, auth, "ingest", uuid).status_code == 400  # not a SIP


def test_transfer_status_lifecycle(client: TestClient, auth: dict[str, str]) -> None:
    uuid = make_unit(name="ab")
    set_unit(uuid, current_path=f"/proc/completedTransfers/ab-{uuid}")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    body = status(client, auth, "transfer", uuid).json()
    assert body == {
        "type": "transfer",
        "path": f"/proc/completedTransfers/ab-{uuid}/",
        "directory": f"ab-{uuid}",
        "name": "ab",
        "uuid": uuid,
        "microservice": "Move to processing directory",
        "status": "PROCESSING",
        "message": f"Fetched status for {uuid} successfully.",
    }
    ask(
        Recorder(),
        uuid,
        microservice="Create SIP from Transfer",
        name="Create SIP(s)",
        choices=[Choice("61cfa825-120e-4b17-83e6-51a42b67d969", "Create single SIP")],
    )
    body = status(client, auth, "transfer", uuid).json()
    assert (body["status"], body["microservice"]) == ("USER_INPUT", "Create SIP(s)")
    add_jobs(uuid, ("Create SIP from Transfer", "Create SIP from transfer objects"))
    body = status(client, auth, "transfer", uuid).json()
    assert body["status"] == "PROCESSING" and "sip_uuid" not in body
    sip = make_unit(UnitType.SIP, name="ab", transfer_uuid=uuid)
    set_unit(uuid, sip_uuid=sip)
    body = status(client, auth, "transfer", uuid).json()
    assert (body["status"], body["sip_uuid"]) == ("COMPLETE", sip)
    completed = client.get("/api/transfer/completed", headers=auth).json()["results"]
    assert uuid in completed and sip not in completed


def test_backlog_failed_rejected_and_sip_complete(client: TestClient, auth: dict[str, str]) -> None:
    backlog = make_unit()
    add_jobs(backlog, ("Create SIP from Transfer", "Move transfer to backlog"))
    body = status(client, auth, "transfer", backlog).json()
    assert (body["status"], body["sip_uuid"]) == ("COMPLETE", "BACKLOG")
    failed = make_unit()
    Recorder().fail_unit(failed, "boom")
    assert status(client, auth, "transfer", failed).json()["status"] == "FAILED"
    rejected = make_unit(UnitType.SIP)
    Recorder().reject_unit(rejected)
    assert status(client, auth, "ingest", rejected).json()["status"] == "REJECTED"
    sip = make_unit(UnitType.SIP)
    add_jobs(
        sip,
        ("Store AIP", "Remove the processing directory"),
        ("Upload DIP", "Move to the uploadedDIPs directory"),
    )
    body = status(client, auth, "ingest", sip).json()
    assert body["status"] == "COMPLETE" and "sip_uuid" not in body  # rule 8
    assert sip in client.get("/api/ingest/completed/", headers=auth).json()["results"]


def test_hide_one_and_all(client: TestClient, auth: dict[str, str]) -> None:
    running = make_unit(UnitType.SIP)
    add_jobs(running, ("Normalize", "Normalize for preservation"))
    done = make_unit(UnitType.SIP)
    add_jobs(done, ("Store AIP", "Remove the processing directory"))
    res = client.delete(f"/api/ingest/{running}/delete/", headers=auth)
    assert (res.status_code, res.json()) == (409, {"removed": False})
    res = client.delete(f"/api/ingest/{done}/delete/", headers=auth)
    assert (res.status_code, res.json()) == (200, {"removed": True})
    assert client.delete(f"/api/ingest/{done}/delete/", headers=auth).status_code == 409
    assert done not in client.get("/api/ingest/completed", headers=auth).json()["results"]
    res = client.delete("/api/ingest/11111111-2222-3333-4444-555555555555/delete/", headers=auth)
    assert (res.status_code, res.json()) == (404, {"removed": False})
    failed = make_unit()
    Recorder().fail_unit(failed, "boom")
    res = client.delete("/api/transfer/delete/", headers=auth)
    assert res.status_code == 200 and failed in res.json()["removed"]
    assert client.delete("/api/transfer/delete", headers=auth).json()["removed"] == []


def test_unapproved_approve_and_waiting(
    client: TestClient, auth: dict[str, str], recorded_runs: Any
) -> None:
    uuid = make_unit(name="mc-api-test", transfer_type="zipped bag", current_path="/x/mc-api-test")
    ask(
        Recorder(),
        uuid,
        microservice="Approve transfer",
        name="Approve zipped bagit transfer",
        choices=APPROVE_CHOICES,
    )
    listed = client.get("/api/transfer/unapproved", headers=auth).json()
    assert {"type": "zipped bag", "directory": "mc-api-test", "uuid": uuid} in listed["results"]
    waiting = client.get("/api/ingest/waiting", headers=auth).json()["results"]
    assert {
        "sip_directory": "mc-api-test",
        "sip_uuid": uuid,
        "sip_name": "mc-api-test",
        "microservice": "Approve zipped bagit transfer",
    } in waiting
    res = client.post(
        "/api/transfer/approve", headers=auth, data={"directory": "mc-api-test"}
    )  # type defaults to standard
    assert res.status_code == 404
    res = client.post(
        "/api/transfer/approve/",
        headers=auth,
        data={"directory": "mc-api-test", "type": "zipped bag"},
    )
    assert res.json() == {"message": "Approval successful.", "uuid": uuid}
    assert recorded_runs.submitted == [("transfer", {"unit_uuid": uuid})]
    assert status(client, auth, "transfer", uuid).json()["status"] == "PROCESSING"
    res = client.post("/api/transfer/approve", headers=auth, data={"type": "standard"})
    assert res.json() == {"error": True, "message": "Please specify a transfer directory."}
    res = client.post(
        "/api/transfer/approve", headers=auth, data={"directory": "d", "type": "nonsense"}
    )
    assert res.json()["message"] == "Invalid transfer type."


def test_start_transfer(client: TestClient, auth: dict[str, str], recorded_runs: Any) -> None:
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path)
    (source / "st1").mkdir(exist_ok=True)
    (source / "st1" / "a.txt").write_text("hello")
    loc = default_location(LocationPurpose.TRANSFER_SOURCE).uuid
    encoded = base64.b64encode(f"{loc}:st1".encode()).decode()
    res = client.post(
        "/api/transfer/start_transfer/",
        headers=auth,
        data={"name": "st1", "type": "standard", "paths[]": [encoded], "row_ids[]": [""]},
    )
    assert res.status_code == 200, res.text
    assert res.json()["message"] == "Copy successful."
    directory = Path(res.json()["path"]).name
    assert directory.startswith("st1-")
    assert not Path(res.json()["path"]).exists()  # copied by its flow's first job, once approved
    unapproved = client.get("/api/transfer/unapproved", headers=auth).json()["results"]
    entry = next(e for e in unapproved if e["directory"] == directory)
    assert entry["type"] == "standard"
    assert status(client, auth, "transfer", entry["uuid"]).json()["status"] == "USER_INPUT"
    assert recorded_runs.submitted == []  # waits for approval
    res = client.post(
        "/api/transfer/start_transfer/",
        headers=auth,
        data={"type": "standard", "paths[]": [encoded]},
    )
    assert res.json() == {"error": True, "message": "No transfer name provided."}
    res = client.post("/api/transfer/start_transfer/", headers=auth, data={"name": "x"})
    assert res.json() == {"error": True, "message": "No path provided."}
    missing = base64.b64encode(f"{loc}:nope".encode()).decode()
    res = client.post(
        "/api/transfer/start_transfer/", headers=auth, data={"name": "x", "paths[]": [missing]}
    )
    assert res.status_code == 404 and res.json()["error"] is True
    res = client.post(
        "/api/transfer/start_transfer/",
        headers=auth,
        data={"name": "x", "type": "maildir", "paths[]": [encoded]},  # not supported
    )
    assert res.status_code == 400 and res.json()["error"] is True


def test_full_reingest_starts_an_archivematica_aip_transfer(
    client: TestClient, auth: dict[str, str], recorded_runs: Any
) -> None:
    from custos.models import Unit

    res = client.post("/api/transfer/reingest", headers=auth, data={"uuid": "x"})
    assert res.status_code == 400
    assert res.json() == {"error": True, "message": '"name" and "uuid" are required.'}
    sip = make_unit(UnitType.SIP, name="aip2")
    add_jobs(sip, ("Store AIP", "Remove the processing directory"))
    loc = default_location(LocationPurpose.AIP_STORAGE).uuid
    with session_scope() as s:
        s.add(
            Package(
                uuid=sip,
                name=f"aip2-{sip}",
                location_uuid=loc,
                path=f"aip2-{sip}.7z",
                status=PackageStatus.STORED,
            )
        )
    res = client.post(
        "/api/transfer/reingest", headers=auth, data={"name": f"aip2-{sip}", "uuid": sip}
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["message"] == "Approval successful." and set(body) == {"message", "reingest_uuid"}
    transfer = body["reingest_uuid"]
    assert transfer != sip  # a new transfer; its SIP will take the AIP's UUID again
    assert recorded_runs.submitted == [("transfer", {"unit_uuid": transfer})]
    with session_scope() as s:
        unit = s.get(Unit, transfer)
        assert unit is not None and unit.unit_type == UnitType.TRANSFER
        assert unit.transfer_type == "Archivematica AIP" and unit.name == "aip2"
        assert unit.variables["pending_sip_uuid"] == sip
    assert client.get(f"/api/v2beta/jobs/{sip}", headers=auth).status_code == 400
    res = client.post(
        "/api/transfer/reingest", headers=auth, data={"name": f"aip2-{sip}", "uuid": sip}
    )
    assert res.status_code == 400 and "being reingested" in res.json()["message"]


def test_reingest_validation_and_partial_reingest(
    client: TestClient, auth: dict[str, str], recorded_runs: Any
) -> None:
    res = client.post("/api/ingest/reingest", headers=auth, data={"name": "x"})
    assert res.json() == {"error": True, "message": '"name" and "uuid" are required.'}
    sip = make_unit(UnitType.SIP, name="aip1")
    job = add_jobs(sip, ("Store AIP", "Remove the processing directory"))[0]
    res = client.post("/api/ingest/reingest", headers=auth, data={"name": "aip1", "uuid": sip})
    assert res.status_code == 400  # not stored
    loc = default_location(LocationPurpose.AIP_STORAGE).uuid
    with session_scope() as s:
        s.add(
            Package(
                uuid=sip,
                name="aip1",
                location_uuid=loc,
                path="aip1.7z",
                status=PackageStatus.STORED,
            )
        )
    res = client.post("/api/ingest/reingest/", headers=auth, data={"name": "aip1", "uuid": sip})
    assert res.status_code == 200, res.text
    assert res.json() == {"message": "Approval successful.", "reingest_uuid": sip}
    res = client.get(f"/api/v2beta/jobs/{sip}", headers=auth)
    assert res.status_code == 400  # old jobs are gone
    assert job not in res.text
    assert recorded_runs.submitted == [("reingest", {"unit_uuid": sip})]
    res = client.post("/api/transfer/reingest", headers=auth, data={"name": "aip1", "uuid": sip})
    assert res.status_code == 400 and "being processed" in res.json()["message"]
    # approval of the partial reingest
    assert client.post("/api/ingest/reingest/approve", headers=auth, data={}).json() == {
        "error": True,
        "message": '"uuid" is required.',
    }
    assert (
        client.post("/api/ingest/reingest/approve", headers=auth, data={"uuid": sip}).status_code
        == 400
    )
    ask(
        Recorder(),
        sip,
        microservice="Reingest AIP",
        name="Approve AIP reingest",
        choices=[
            Choice("260ef4ea-f87d-4acf-830d-d0de41e6d2af", "Approve AIP reingest"),
            Choice("a6ed697e-6189-4b4e-9f80-29209abc7937", "Reject SIP"),
        ],
    )
    res = client.post("/api/ingest/reingest/approve", headers=auth, data={"uuid": sip})
    assert res.json() == {"message": "Approval successful."}
    assert ("ingest", {"unit_uuid": sip}) in recorded_runs.submitted


def test_copy_metadata_files(client: TestClient, auth: dict[str, str], tmp_path: Path) -> None:
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path)
    (source / "md.csv").write_text("filename,dc.title\n")
    loc = default_location(LocationPurpose.TRANSFER_SOURCE).uuid
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    sip_dir = processing / f"sip-{tmp_path.name}"  # a SIP's folder is in processing
    sip_dir.mkdir()
    sip = make_unit(UnitType.SIP, current_path=str(sip_dir))
    encoded = base64.b64encode(f"{loc}:md.csv".encode()).decode()
    res = client.post(
        "/api/ingest/copy_metadata_files/",
        headers=auth,
        data={"sip_uuid": sip, "source_paths[]": [encoded]},
    )
    assert res.status_code == 201
    assert res.json() == {"error": False, "message": "Metadata files added successfully."}
    assert (sip_dir / "metadata" / "md.csv").read_text() == "filename,dc.title\n"
    res = client.post("/api/ingest/copy_metadata_files/", headers=auth, data={"sip_uuid": sip})
    assert res.json() == {"error": True, "message": "sip_uuid and source_paths[] both required."}
