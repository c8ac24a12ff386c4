"""Perma.cc v1 dialect: auth, links, permissions, downloads, folders, batches, jobs."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from custos.accounts import create_api_key, create_user
from custos.captures import create_organization
from custos.db import session_scope
from custos.models import Capture, CaptureJob, Folder, Unit, User
from custos.models.perma import CaptureQuota

_n = itertools.count()


@pytest.fixture(scope="module")
def pc(custos_home: Path) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def make_user(admin: bool = False) -> tuple[User, dict[str, str]]:
    user = create_user(f"perma-{next(_n)}", role="admin" if admin else "capture")
    assert user.id is not None
    return user, {"Authorization": f"ApiKey {create_api_key(user.id)}"}


@pytest.fixture()
def alice(recorded_runs: Any) -> tuple[User, dict[str, str]]:
    return make_user()


@pytest.fixture()
def bob(recorded_runs: Any) -> tuple[User, dict[str, str]]:
    return make_user()


def write_warc(path: Path, url: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(
            writer.create_warc_record(
                url,
                "resource",
                payload=io.BytesIO(b"<html>hi</html>"),
                warc_content_type="text/html",
            )
        )


def create(pc: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = pc.post("/v1/archives/", json={"url": "http://example.com", **body}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def test_auth_missing_bad_header_and_query_key(
    pc: TestClient, alice: tuple[User, dict[str, str]]
) -> None:
    missing = pc.get("/v1/user/")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert missing.headers["WWW-Authenticate"] == "ApiKey"
    bad = pc.get("/v1/user", headers={"Authorization": "ApiKey nope-nope-nope"})
    assert (bad.status_code, bad.json()) == (401, {"detail": "Invalid token."})
    key = alice[1]["Authorization"].split()[1]
    by_query = pc.get(f"/v1/user?api_key={key}")
    assert by_query.status_code == 200
    body = by_query.json()
    assert body["id"] == alice[0].id
    assert [f["name"] for f in body["top_level_folders"]] == ["Personal Links"]


def test_create_link_makes_capture_unit_and_job(
    pc: TestClient, recorded_runs: Any, alice: tuple[User, dict[str, str]]
) -> None:
    link = create(pc, alice[1], url="example.org/page", title="Example")
    assert link["url"] == "http://example.org/page"
    guid = link["guid"]
    assert len(guid) == 9 and guid[4] == "-" and not guid[:4].isalpha()
    assert link["is_private"] is False and link["user_deleted"] is False
    assert link["created_by"]["id"] == alice[0].id
    with session_scope() as s:
        capture = s.exec(select(Capture).where(col(Capture.guid) == guid)).one()
        assert s.get(Unit, capture.uuid) is not None
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)).one()
        assert job.status == "pending"
    assert ("capture", {"unit_uuid": capture.uuid}) in recorded_runs.submitted
    jobs = pc.get("/v1/capture_jobs", headers=alice[1]).json()
    assert guid in [j["guid"] for j in jobs["objects"]]
    one = pc.get(f"/v1/capture_jobs/{guid}", headers=alice[1]).json()
    assert one["status"] == "pending" and one["submitted_url"] == "http://example.org/page"


def test_validation_errors_leave_invalid_jobs(
    pc: TestClient, alice: tuple[User, dict[str, str]]
) -> None:
    empty = pc.post("/v1/archives", json={"url": ""}, headers=alice[1])
    assert (empty.status_code, empty.json()) == (400, {"url": ["URL cannot be empty."]})
    human = pc.post("/v1/archives", json={"url": "http://x.org", "human": "yes"}, headers=alice[1])
    assert human.json() == {"human": "Value must be of type bool, not str."}
    folder = pc.post(
        "/v1/archives", json={"url": "http://x.org", "folder": 999999}, headers=alice[1]
    )
    assert (folder.status_code, folder.json()) == (400, {"folder": ["Folder not found."]})
    with session_scope() as s:
        invalid = s.exec(
            select(CaptureJob).where(
                col(CaptureJob.created_by) == alice[0].id, col(CaptureJob.status) == "invalid"
            )
        ).all()
    assert len(invalid) == 3
    assert json.loads(invalid[0].message or "") == {"url": ["URL cannot be empty."]}


def test_permissions_private_and_public(
    pc: TestClient, alice: tuple[User, dict[str, str]], bob: tuple[User, dict[str, str]]
) -> None:
    private = create(pc, alice[1], is_private=True)
    public = create(pc, alice[1])
    assert pc.get(f"/v1/archives/{private['guid']}", headers=bob[1]).status_code == 403
    assert pc.get(f"/v1/archives/{private['guid']}", headers=alice[1]).status_code == 200
    assert pc.get("/v1/archives/ZZZZ-9999", headers=alice[1]).json() == {"detail": "Not found."}
    assert pc.get(f"/v1/public/archives/{private['guid']}").status_code == 404
    assert pc.get(f"/v1/public/archives/{public['guid']}").json()["guid"] == public["guid"]
    listed = pc.get("/v1/public/archives?limit=1000").json()
    assert listed["meta"]["limit"] == 300
    guids = [o["guid"] for o in listed["objects"]]
    assert public["guid"] in guids and private["guid"] not in guids
    mine = pc.get("/v1/user/archives", headers=alice[1]).json()
    assert {private["guid"], public["guid"]} <= {o["guid"] for o in mine["objects"]}
    assert mine["meta"]["total_count"] == 2
    assert pc.get("/v1/archives", headers=bob[1]).json()["objects"] == []


def test_patch_and_delete_rules(pc: TestClient, alice: tuple[User, dict[str, str]]) -> None:
    link = create(pc, alice[1])
    url = f"/v1/archives/{link['guid']}"
    patched = pc.patch(
        url,
        json={"title": "New", "notes": "n", "is_private": True, "whatever": 1},
        headers=alice[1],
    )
    assert patched.status_code == 200
    assert (
        patched.json()["title"],
        patched.json()["is_private"],
        patched.json()["private_reason"],
    ) == ("New", True, "user")
    refused = pc.patch(url, json={"url": "http://evil"}, headers=alice[1])
    assert refused.status_code == 400 and isinstance(refused.json(), list)
    with session_scope() as s:
        capture = s.exec(select(Capture).where(col(Capture.guid) == link["guid"])).one()
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)).one()
        job.status = "in_progress"
        s.add(job)
    busy = pc.delete(url, headers=alice[1])
    assert busy.status_code == 400
    assert busy.json() == {
        "error": ["Capture in progress: please wait until complete before deleting."]
    }
    with session_scope() as s:
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)).one()
        job.status = "completed"
    old = create(pc, alice[1])
    with session_scope() as s:
        aged = s.exec(select(Capture).where(col(Capture.guid) == old["guid"])).one()
        aged.created_at = aged.created_at - timedelta(hours=25)
    assert pc.delete(f"/v1/archives/{old['guid']}", headers=alice[1]).status_code == 403
    assert pc.delete(url, headers=alice[1]).status_code == 204
    with session_scope() as s:
        assert s.get(Capture, capture.uuid).user_deleted is True  # type: ignore[union-attr]
    assert pc.get(url, headers=alice[1]).status_code == 404


def test_download_has_perma_warcinfo_records(
    pc: TestClient,
    tmp_path: Path,
    alice: tuple[User, dict[str, str]],
    bob: tuple[User, dict[str, str]],
) -> None:
    link = create(pc, alice[1], is_private=True)
    warc = tmp_path / "archive.warc.gz"
    write_warc(warc, "http://example.com/")
    with session_scope() as s:
        capture = s.exec(select(Capture).where(col(Capture.guid) == link["guid"])).one()
        capture.warc_path, capture.warc_size = str(warc), warc.stat().st_size
    response = pc.get(f"/v1/archives/{link['guid']}/download", headers=alice[1])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert f'filename="{link["guid"]}.warc.gz"' in response.headers["content-disposition"]
    records = [
        (r.rec_type, r.content_stream().read().decode())
        for r in ArchiveIterator(io.BytesIO(response.content))
    ]
    assert [r[0] for r in records] == ["warcinfo", "warcinfo", "resource"]
    info = records[0][1]
    assert "operator: Perma.cc download" in info and f"Perma-GUID: {link['guid']}" in info
    other = pc.get(f"/v1/archives/{link['guid']}/download", headers=bob[1])
    assert (other.status_code, other.text) == (403, "Private archive.")
    bad = pc.get(f"/v1/archives/{link['guid']}/download?file_format=zip", headers=alice[1])
    assert bad.json() == {
        "file_format": "The specified format is not supported. Options: warc, wacz."
    }
    assert (
        pc.get(
            f"/v1/archives/{link['guid']}/download?file_format=wacz", headers=alice[1]
        ).status_code
        == 404
    )


def test_folder_tree_rules(
    pc: TestClient, alice: tuple[User, dict[str, str]], bob: tuple[User, dict[str, str]]
) -> None:
    top = pc.get("/v1/folders", headers=alice[1]).json()["objects"]
    root = top[0]
    assert root["parent"] is None and root["path"] == str(root["id"])
    a = pc.post("/v1/folders", json={"name": "A", "parent": root["id"]}, headers=alice[1])
    assert a.status_code == 201
    a_id = a.json()["id"]
    b = pc.post(f"/v1/folders/{a_id}/folders", json={"name": "B"}, headers=alice[1]).json()
    assert b["path"] == f"{root['id']}-{a_id}-{b['id']}"
    dup = pc.post("/v1/folders", json={"name": "A", "parent": root["id"]}, headers=alice[1])
    assert dup.json() == {"name": ["A folder with that name already exists at that location."]}
    assert pc.post("/v1/folders", json={"name": "x"}, headers=alice[1]).status_code == 400
    cycle = pc.put(f"/v1/folders/{b['id']}/folders/{a_id}", headers=alice[1])
    assert cycle.json() == {"error": ["A node may not be made a child of itself."]}
    assert pc.put(f"/v1/folders/{a_id}", headers=alice[1]).json() == {
        "error": ["PUT is only valid for nested folder endpoints."]
    }
    assert pc.patch(f"/v1/folders/{root['id']}", json={"name": "R"}, headers=alice[1]).json() == {
        "error": ["Top-level folders cannot be renamed."]
    }
    assert pc.delete(f"/v1/folders/{root['id']}", headers=alice[1]).json() == {
        "error": ["Top-level folders cannot be deleted."]
    }
    assert pc.delete(f"/v1/folders/{a_id}", headers=alice[1]).json() == {
        "error": ["Folders can only be deleted if they are empty."]
    }
    assert pc.get(f"/v1/folders/{a_id}", headers=bob[1]).status_code == 403
    renamed = pc.patch(f"/v1/folders/{b['id']}", json={"name": "B2"}, headers=alice[1])
    assert renamed.json()["name"] == "B2"
    link = create(pc, alice[1], folder=b["id"])
    moved = pc.put(f"/v1/folders/{a_id}/archives/{link['guid']}", headers=alice[1])
    assert moved.status_code == 200
    in_a = pc.get(f"/v1/folders/{a_id}/archives", headers=alice[1]).json()["objects"]
    assert [o["guid"] for o in in_a] == [link["guid"]]
    export = pc.get(f"/v1/folders/{a_id}/archives/export", headers=alice[1])
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows[0]["perma_link"].endswith(link["guid"]) and rows[0]["status"] == "pending"
    assert pc.delete(f"/v1/folders/{a_id}/folders/{b['id']}", headers=alice[1]).status_code == 204


def test_organization_sharing_and_quota(
    pc: TestClient, alice: tuple[User, dict[str, str]], bob: tuple[User, dict[str, str]]
) -> None:
    assert alice[0].id is not None and bob[0].id is not None
    org = create_organization(f"Org {next(_n)}", "Registrar", members=[alice[0].id, bob[0].id])
    link = create(pc, alice[1], folder=org.shared_folder_id)
    assert pc.get(f"/v1/archives/{link['guid']}", headers=bob[1]).status_code == 200
    orgs = pc.get("/v1/organizations", headers=bob[1]).json()["objects"]
    assert orgs[0]["shared_folder"]["id"] == org.shared_folder_id
    with session_scope() as s:
        s.add(CaptureQuota(user_id=bob[0].id, link_limit=1))
    batch = pc.post(
        "/v1/archives/batches",
        headers=bob[1],
        json={
            "urls": ["http://a.example", "http://b.example"],
            "target_folder": pc.get("/v1/user", headers=bob[1]).json()["top_level_folders"][0][
                "id"
            ],
        },
    )
    assert batch.status_code == 201
    body = batch.json()
    assert body["links_remaining"] == 0 and body["links_remaining_period"] == "once"
    statuses = [j["status"] for j in body["capture_jobs"]]
    assert statuses == ["pending", "invalid"]
    assert "usage limit" in json.loads(body["capture_jobs"][1]["message"])["error"][0]
    detail = pc.get(f"/v1/archives/batches/{body['id']}", headers=bob[1]).json()
    assert isinstance(detail["target_folder"], dict)
    assert pc.get(f"/v1/archives/batches/{body['id']}", headers=alice[1]).status_code == 403
    export = pc.get(f"/v1/archives/batches/{body['id']}/export", headers=bob[1]).text
    assert [r["status"] for r in csv.DictReader(io.StringIO(export))] == ["success", "error"]
    form = pc.post("/v1/archives/batches", headers=bob[1], data={"urls": "x"})
    assert form.json() == {"detail": "content-type must be aplication/json"}
    unlimited = pc.post(
        "/v1/archives/batches",
        headers=alice[1],
        json={"urls": [], "target_folder": org.shared_folder_id},
    ).json()
    assert unlimited["links_remaining"] == "Infinity"
    with session_scope() as s:
        assert s.get(Folder, org.shared_folder_id) is not None
