"""v2beta: package (with Idempotency-Key), jobs, task, validate, decisions."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.archivematica import idempotency
from custos.accounts import user_by_name
from custos.db import session_scope
from custos.decisions import Choice, ask
from custos.models import Task, Unit, UnitType
from custos.recorder import Recorder
from custos.storage import LocationPurpose, default_location
from tests.api.am_helpers import make_unit

NIL = "00000000-0000-0000-0000-000000000000"


def source_dir(name: str) -> str:
    """A folder in the default transfer source; returns its encoded path."""
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / name
    folder.mkdir(exist_ok=True)
    (folder / "f.txt").write_text(name)
    return base64.b64encode(f"{loc.uuid}:{name}".encode()).decode()


def post_package(
    client: TestClient, auth: dict[str, str], body: Any, key: str | None = None
) -> Any:
    headers = dict(auth)
    if key:
        headers["Idempotency-Key"] = key
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/v2beta/package/", content=raw, headers=headers)  # no type


def test_package_creates_transfer_without_content_type(
    client: TestClient, auth: dict[str, str], recorded_runs: Any
) -> None:
    res = post_package(
        client,
        auth,
        {
            "name": "pk1",
            "path": source_dir("pk1"),
            "type": "standard",
            "processing_config": "nonexistent",
            "accession": "A-1",
            "metadata_set_id": "m1",
        },
    )
    assert res.status_code == 202, res.text
    uuid = res.json()["id"]
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        assert (
            unit.name,
            unit.accession,
            unit.processing_config,
            unit.metadata_set_id,
            unit.auto_approve,
        ) == ("pk1", "A-1", "default", "m1", True)
    assert recorded_runs.submitted == [("transfer", {"unit_uuid": uuid})]
    # right after 202 there is no job yet: Archivematica's "keep polling" 400
    res = client.get(f"/api/transfer/status/{uuid}", headers=auth)
    assert res.status_code == 400
    assert client.get("/api/v2beta/package", headers=auth).status_code == 501


def test_package_errors(client: TestClient, auth: dict[str, str], recorded_runs: Any) -> None:
    decode = {"error": True, "message": 'Parameter "path" cannot be decoded.'}
    assert post_package(client, auth, b"{not json").json() == decode
    assert post_package(client, auth, {"name": "x"}).json() == decode
    assert post_package(client, auth, {"name": "x", "path": "%%%"}).json() == decode
    good = source_dir("pk2")
    for body in (
        {"path": good},
        {"name": "x", "path": good, "type": "nonsense"},
        {"name": "x", "path": good, "auto_approve": "yes"},
    ):
        res = post_package(client, auth, body)
        assert res.status_code == 400
        assert res.json() == {"error": True, "message": "Package cannot be created"}
    missing = base64.b64encode(b"no/such/dir").decode()
    res = post_package(client, auth, {"name": "x", "path": missing})
    assert res.status_code == 400 and res.json()["error"] is True
    assert recorded_runs.submitted == []


def test_package_idempotency_key(
    client: TestClient, auth: dict[str, str], am_user: tuple[str, str], recorded_runs: Any
) -> None:
    body = {"name": "idem", "path": source_dir("idem"), "processing_config": "automated"}
    first = post_package(client, auth, body, key="k-1")
    again = post_package(client, auth, dict(reversed(list(body.items()))), key="k-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert len(recorded_runs.submitted) == 1
    other = post_package(client, auth, {**body, "name": "idem2"}, key="k-1")
    assert other.status_code == 422 and other.json()["error"] is True
    new = post_package(client, auth, body, key="k-2")
    assert new.status_code == 202 and new.json()["id"] != first.json()["id"]
    user = user_by_name(am_user[0])
    assert user is not None and user.id is not None
    idempotency.claim(
        user.id,
        "k-pending",
        idempotency.request_digest({**body, "type": "standard", "auto_approve": True}),
    )
    pending = post_package(client, auth, body, key="k-pending")
    assert pending.status_code == 409 and pending.json()["error"] is True
    failed = post_package(
        client, auth, {"name": "x", "path": base64.b64encode(b"missing").decode()}, key="k-fail"
    )
    assert failed.status_code == 400
    retried = post_package(client, auth, body, key="k-fail")  # a failed claim is released
    assert retried.status_code == 202


def test_jobs_filters_and_task(client: TestClient, auth: dict[str, str]) -> None:
    uuid = make_unit(UnitType.SIP)
    rec = Recorder()
    with rec.job(uuid, "Normalize", "Normalize for preservation", "link-1") as job:
        t1 = job.task(file_uuid=NIL, file_name="a.tif", exit_code=0)
    rec.record_job(uuid, "Store AIP", "Store the AIP")
    res = client.get(f"/api/v2beta/jobs/{uuid}", headers=auth)
    body = res.json()
    assert [j["name"] for j in body] == ["Normalize for preservation", "Store the AIP"]
    assert body[0]["status"] == "COMPLETE" and body[0]["link_uuid"] == "link-1"
    assert body[0]["tasks"] == [{"uuid": t1, "exit_code": 0}]
    res = client.get(
        f"/api/v2beta/jobs/{uuid}",
        headers=auth,
        params={
            "microservice": "Microservice: Normalize",
            "name": "Job: Normalize for preservation",
            "detailed": "1",
        },
    )
    body = res.json()
    assert len(body) == 1 and body[0]["tasks"][0]["file_name"] == "a.tif"
    assert body[0]["tasks"][0]["duration"] == "< 1"
    assert (
        client.get(f"/api/v2beta/jobs/{uuid}", headers=auth, params={"link_uuid": "nope"}).json()
        == []
    )
    res = client.get(f"/api/v2beta/jobs/{NIL}", headers=auth)
    assert res.status_code == 400
    assert res.json() == {"error": True, "message": f"No jobs found for unit: {NIL}"}
    res = client.get(f"/api/v2beta/task/{t1}", headers=auth)
    task = res.json()
    assert task["uuid"] == t1 and task["file_uuid"] == NIL and task["exit_code"] == 0
    assert len(task["time_created"]) == 19 and "+" not in task["time_created"]
    with session_scope() as s:
        row = s.get(Task, t1)
        assert row is not None
    res = client.get(f"/api/v2beta/task/{NIL}", headers=auth)
    assert res.status_code == 400
    assert res.json() == {"error": True, "message": f"Task with UUID {NIL} does not exist"}


AVALON_OK = (
    b"Ref name,Author\n"
    b"Bibliographic ID,Title,Date Issued,File,Publish\n"
    b"123,A title,2020,video.mp4,yes\n"
)


def validate(
    client: TestClient,
    auth: dict[str, str],
    name: str,
    data: bytes,
    ctype: str = "text/csv; charset=utf-8",
) -> Any:
    return client.post(
        f"/api/v2beta/validate/{name}/", content=data, headers={**auth, "Content-Type": ctype}
    )


def test_validate_avalon_and_rights(client: TestClient, auth: dict[str, str]) -> None:
    assert validate(client, auth, "avalon", AVALON_OK).json() == {"valid": True}
    cases = {
        b"Ref name\nTitle\nx\n": "Administrative data must include reference name and author.",
        b"Ref,Auth\n": "The document is incomplete.",
        b"Ref,Auth\nTitle,Bogus\nx,y\n": "Manifest includes invalid metadata field(s). "
        "Invalid field(s): Bogus",
        b"Ref,Auth\nTitle,Title,File,Date Issued\na,b,c,d\n": "A non-repeatable header field is repeated. Repeating field(s): Title",  # noqa: E501 - Archivematica's message, verbatim
        b"Ref,Auth\nTitle,File\na,b\n": "One of the required headers is missing: Title, "
        "Date Issued, File.",
        b"Ref,Auth\nTitle,Date Issued,File,Note Type\na,b,c,d\n": "Note Type field missing its required pair.",  # noqa: E501 - Archivematica's message, verbatim
        b"Ref,Auth\nTitle,Date Issued,File\na,b,c.d.mp4\n": "Filepath c.d.mp4 contains more than one period.",  # noqa: E501 - Archivematica's message, verbatim
        b"Ref,Auth\nTitle,Date Issued,File,Hidden\na,b,c.mp4,maybe\n": "Publish/Hidden fields must have boolean value (yes or no). Value is maybe",  # noqa: E501 - Archivematica's message, verbatim
        b"Ref,Auth\n Title,Date Issued,File\na,b,c\n": "Header fields cannot have leading or trailing blanks. Invalid field:  Title",  # noqa: E501 - Archivematica's message, verbatim
    }
    for data, reason in cases.items():
        res = validate(client, auth, "avalon", data)
        assert res.status_code == 400, data
        assert res.json() == {"valid": False, "reason": reason}, data
    ok = b"file,basis,status,jurisdiction\nobjects/a.txt,copyright,copyrighted,ca\n"
    assert validate(client, auth, "rights", ok).json() == {"valid": True}
    res = validate(client, auth, "rights", b"file,basis\nobjects/a.txt,\n")
    assert res.json() == {"valid": False, "reason": "No basis specified."}
    res = validate(client, auth, "avalon", AVALON_OK, ctype="text/plain")
    assert res.json() == {
        "error": True,
        "message": 'Content type should be "text/csv; charset=utf-8"',
    }
    res = validate(client, auth, "mets", AVALON_OK)
    assert res.status_code == 404
    assert res.json() == {
        "error": True,
        "message": "Unknown validator. Accepted values: avalon,rights",
    }


def test_decisions_list_and_answer(
    client: TestClient, auth: dict[str, str], recorded_runs: Any
) -> None:
    uuid = make_unit(UnitType.SIP, name="dec")
    decision = ask(
        Recorder(),
        uuid,
        microservice="Normalize",
        name="Normalize",
        choices=[
            Choice("612e3609-ce9a-4df6-a9a3-63d634d2d934", "Normalize for preservation"),
            Choice("a6ed697e-6189-4b4e-9f80-29209abc7937", "Reject SIP"),
        ],
    )
    listed = client.get("/api/v2beta/decisions", headers=auth).json()["results"]
    entry = next(e for e in listed if e["unit_uuid"] == uuid)
    assert entry["job_uuid"] == decision.job_uuid and entry["decision"] == "Normalize"
    assert entry["choices"][0] == {
        "id": "612e3609-ce9a-4df6-a9a3-63d634d2d934",
        "label": "Normalize for preservation",
    }
    url = f"/api/v2beta/decisions/{decision.job_uuid}"
    assert client.post(url, headers=auth, json={"choice": "bogus"}).status_code == 400
    assert client.post(url, headers=auth, json={}).status_code == 400
    res = client.post(url, headers=auth, json={"choice": "612e3609-ce9a-4df6-a9a3-63d634d2d934"})
    assert res.status_code == 200, res.text
    assert res.json()["unit_uuid"] == uuid
    assert recorded_runs.submitted == [("ingest", {"unit_uuid": uuid})]
    assert client.get(f"/api/ingest/status/{uuid}", headers=auth).json()["status"] == "PROCESSING"
    again = client.post(url, headers=auth, data={"choice": "612e3609"})
    assert again.status_code == 409
    assert (
        client.post(f"/api/v2beta/decisions/{NIL}", headers=auth, json={"choice": "x"}).status_code
        == 404
    )
    assert client.post(url, json={"choice": "x"}).status_code == 403
