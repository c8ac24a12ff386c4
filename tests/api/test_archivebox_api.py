"""ArchiveBox v1 dialect: auth methods, snapshots, results, tags, crawls, cli; one model."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import ArchiveResult, Capture, User

_n = itertools.count()


@pytest.fixture(scope="module")
def ab(custos_home: Path) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture()
def admin(recorded_runs: Any) -> tuple[User, str]:
    user = create_user(f"abadmin-{next(_n)}", role="admin", password="s3cret-pass")
    assert user.id is not None
    return user, create_api_key(user.id)


def test_auth_methods_and_headers(ab: TestClient, admin: tuple[User, str]) -> None:
    user, key = admin
    none = ab.get("/api/v1/core/snapshots")
    assert (none.status_code, none.json()) == (401, {"detail": "Unauthorized"})
    assert none.headers["cache-control"] == "no-store"
    basic = base64.b64encode(f"{user.username}:s3cret-pass".encode()).decode()
    for headers, url, method in (
        ({"X-ArchiveBox-API-Key": key}, "/api/v1/core/snapshots", "APIKeyHeaderAuth"),
        ({"Authorization": f"Bearer {key}"}, "/api/v1/core/snapshots", "BearerTokenAuth"),
        ({}, f"/api/v1/core/snapshots?api_key={key}", "QueryParamTokenAuth"),
        ({"Authorization": f"Basic {basic}"}, "/api/v1/core/snapshots", "UsernameAndPasswordAuth"),
    ):
        response = ab.get(url, headers=headers)
        assert response.status_code == 200, (method, response.text)
        assert response.headers["X-ArchiveBox-Auth-Method"] == method
        assert response.headers["X-ArchiveBox-Auth-User-Username"] == user.username
    plain = create_user(f"abplain-{next(_n)}", role="archivist")
    assert plain.id is not None
    denied = ab.get(
        "/api/v1/core/snapshots", headers={"X-ArchiveBox-API-Key": create_api_key(plain.id)}
    )
    assert denied.status_code == 403
    assert "the role archivist may not" in denied.json()["detail"]


def test_get_and_check_api_token(ab: TestClient, admin: tuple[User, str]) -> None:
    user, _ = admin
    wrong = ab.post(
        "/api/v1/auth/get_api_token", json={"username": user.username, "password": "nope"}
    )
    assert wrong.json() == {"success": False, "errors": ["Invalid credentials"]}
    issued = ab.post(
        "/api/v1/auth/get_api_token", json={"username": user.username, "password": "s3cret-pass"}
    ).json()
    assert issued["success"] is True and issued["user_id"] == str(user.id)
    checked = ab.post("/api/v1/auth/check_api_token", json={"token": issued["token"]})
    assert checked.json() == {"success": True, "user_id": str(user.id)}
    assert ab.post("/api/v1/auth/check_api_token", json={"token": "x" * 32}).json() == {
        "success": False,
        "user_id": None,
    }
    used = ab.get("/api/v1/core/snapshots", headers={"Authorization": f"Bearer {issued['token']}"})
    assert used.headers["X-ArchiveBox-Auth-Expires"] != "Never"


def test_cli_add_snapshots_filters_patch_and_perma_view(
    ab: TestClient, admin: tuple[User, str]
) -> None:
    user, key = admin
    h = {"X-ArchiveBox-API-Key": key}
    tag = f"t{next(_n)}"
    added = ab.post(
        "/api/v1/cli/add",
        headers=h,
        json={"urls": ["http://one.example/a", "http://two.example/b"], "tag": tag},
    ).json()
    assert added["success"] is True and added["result"]["num_snapshots"] == 2
    first = added["result"]["snapshot_ids"][0]
    with session_scope() as s:
        s.add(
            ArchiveResult(
                capture_uuid=first,
                extractor="screenshot",
                role="screenshot",
                status="succeeded",
                output="screenshot.png",
            )
        )
    listed = ab.get(f"/api/v1/core/snapshots?tag={tag}&limit=1", headers=h).json()
    assert (listed["total_items"], listed["total_pages"], listed["num_items"]) == (2, 2, 1)
    assert set(listed) >= {
        "total_items",
        "total_pages",
        "page",
        "limit",
        "offset",
        "num_items",
        "items",
    }
    by_url = ab.get("/api/v1/core/snapshots?url=http://one.example/a", headers=h).json()
    assert [i["id"] for i in by_url["items"]] == [first]
    assert ab.get("/api/v1/core/snapshots?search=two.example", headers=h).json()["total_items"] >= 1
    crawl = ab.get(f"/api/v1/crawls/crawl/{added['result']['crawl_id']}", headers=h).json()
    assert crawl["urls"] == "http://one.example/a\nhttp://two.example/b"
    assert crawl["max_depth"] == 0
    detail = ab.get(f"/api/v1/core/snapshot/{first[:8]}", headers=h).json()
    assert detail["tags"] == [tag] and detail["num_archiveresults"] == 1
    assert detail["archiveresults"][0]["extractor"] == "screenshot"
    with session_scope() as s:
        capture = s.get(Capture, first)
        assert capture is not None
    by_ts = ab.get(f"/api/v1/core/snapshot/{capture.timestamp}", headers=h).json()
    assert by_ts["id"] == first
    bad = ab.patch(f"/api/v1/core/snapshot/{first}", headers=h, json={"status": "bogus"})
    assert (bad.status_code, bad.json()) == (400, {"detail": "Invalid status: bogus"})
    sealed = ab.patch(f"/api/v1/core/snapshot/{first}", headers=h, json={"status": "sealed"}).json()
    assert sealed["status"] == "sealed" and sealed["retry_at"] is None
    missing = ab.get("/api/v1/core/snapshot/ffffffff-dead", headers=h)
    assert missing.status_code == 404 and missing.json()["succeeded"] is False
    results = ab.get(f"/api/v1/core/archiveresults?snapshot_id={first}", headers=h).json()
    assert results["items"][0]["snapshot_url"] == "http://one.example/a"
    tags = ab.get(f"/api/v1/core/tag/{tag}", headers=h).json()
    assert tags["num_snapshots"] == 2
    assert ab.get("/api/v1/core/tag/no-such-tag", headers=h).json() == {"detail": "Tag not found"}
    # The same row is a Perma archive: the creator sees it through /v1/.
    perma = ab.get(f"/v1/archives/{capture.guid}", headers={"Authorization": f"ApiKey {key}"})
    assert perma.status_code == 200 and perma.json()["url"] == "http://one.example/a"
    assert perma.json()["captures"][0]["role"] == "screenshot"
    searched = ab.post(
        "/api/v1/cli/search", headers=h, json={"filter_type": "tag", "filter_patterns": [tag]}
    ).json()
    assert {s["id"] for s in searched["result"]} == set(added["result"]["snapshot_ids"])
    removed = ab.post(
        "/api/v1/cli/remove",
        headers=h,
        json={"filter_type": "exact", "filter_patterns": ["http://two.example/b"]},
    ).json()
    assert removed["result"]["removed_count"] == 1
    assert ab.get(f"/api/v1/core/snapshots?tag={tag}", headers=h).json()["total_items"] == 1


def test_perma_archive_is_an_archivebox_snapshot(ab: TestClient, admin: tuple[User, str]) -> None:
    _, key = admin
    link = ab.post(
        "/v1/archives",
        json={"url": "http://perma.example/x", "title": "P"},
        headers={"Authorization": f"ApiKey {key}"},
    ).json()
    h = {"X-ArchiveBox-API-Key": key}
    found = ab.get("/api/v1/core/snapshots?url=http://perma.example/x", headers=h).json()
    assert found["total_items"] == 1
    snapshot = found["items"][0]
    assert (snapshot["title"], snapshot["status"]) == ("P", "queued")
    with session_scope() as s:
        row = s.get(Capture, snapshot["id"])
        assert row is not None and row.guid == link["guid"]


def test_validation_workers_and_machine(ab: TestClient, admin: tuple[User, str]) -> None:
    h = {"X-ArchiveBox-API-Key": admin[1]}
    assert ab.post("/api/v1/cli/add", headers=h, json={"urls": []}).json() == {
        "detail": "URL is required"
    }
    assert (
        ab.post(
            "/api/v1/cli/add", headers=h, json={"urls": ["http://x.example"], "depth": 9}
        ).status_code
        == 400
    )
    workers = ab.get("/api/v1/workers/workers", headers=h).json()
    assert workers[0]["name"] == "capture" and "queue" in workers[0]
    machine = ab.get("/api/v1/machine/machine/current", headers=h).json()
    assert machine["python_version"].startswith("3.") and machine["hostname"]
    assert ab.get("/api/v1/crawls/crawls", headers=h).status_code == 200
