"""Capture access across both web dialects, Perma's /v1/ 404 page and CORS, ``?url=``
SURT matching and the per-capture ``preserve``/``wacz`` options (no capture runs)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from custos.accounts import create_api_key, create_user
from custos.captures import wants_preservation, wants_wacz
from custos.db import session_scope
from custos.models import Capture, CaptureJob, User

_n = itertools.count()


@pytest.fixture(scope="module")
def tc(custos_home: Path) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def _user(admin: bool = False) -> tuple[User, str]:
    user = create_user(f"access-{next(_n)}", role="admin" if admin else "capture")
    assert user.id is not None
    return user, create_api_key(user.id)


def _perma(key: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {key}"}


def _box(key: str) -> dict[str, str]:
    return {"X-ArchiveBox-API-Key": key}


def _create(tc: TestClient, key: str, **body: Any) -> dict[str, Any]:
    response = tc.post(
        "/v1/archives", json={"url": "http://example.com/", **body}, headers=_perma(key)
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _row(guid: str) -> Capture:
    with session_scope() as s:
        return s.exec(select(Capture).where(col(Capture.guid) == guid)).one()


def test_second_user_cannot_touch_private_capture_in_either_dialect(
    tc: TestClient, recorded_runs: Any, tmp_path: Path
) -> None:
    (_, alice), (_, bob) = _user(), _user()
    link = _create(tc, alice, is_private=True, title="Alice's")
    guid = link["guid"]
    before = _row(guid)
    warc = tmp_path / "a.warc.gz"
    warc.write_bytes(b"\x1f\x8b not really")
    with session_scope() as s:
        row = s.get(Capture, before.uuid)
        assert row is not None
        row.warc_path, row.status = str(warc), "succeeded"

    # Perma: see, list, edit, move, download, delete, job
    assert tc.get(f"/v1/archives/{guid}", headers=_perma(bob)).json() == {
        "detail": "You do not have permission to perform this action."
    }
    assert guid not in {
        o["guid"] for o in tc.get("/v1/archives", headers=_perma(bob)).json()["objects"]
    }
    assert tc.get(f"/v1/public/archives/{guid}").status_code == 404
    assert guid not in {o["guid"] for o in tc.get("/v1/public/archives").json()["objects"]}
    patched = tc.patch(f"/v1/archives/{guid}", json={"title": "Bob was here"}, headers=_perma(bob))
    assert patched.status_code == 403
    bob_folder = tc.get("/v1/folders", headers=_perma(bob)).json()["objects"][0]["id"]
    moved = tc.put(f"/v1/folders/{bob_folder}/archives/{guid}", headers=_perma(bob))
    assert moved.status_code == 403
    download = tc.get(f"/v1/archives/{guid}/download", headers=_perma(bob))
    assert (download.status_code, download.text) == (403, "Private archive.")
    assert tc.get(f"/v1/public/archives/{guid}/download").status_code == 404
    assert tc.delete(f"/v1/archives/{guid}", headers=_perma(bob)).status_code == 403
    assert tc.get(f"/v1/capture_jobs/{guid}", headers=_perma(bob)).status_code == 403
    assert tc.get(f"/v1/capture_jobs/{guid}", headers=_perma(alice)).status_code == 200

    # ArchiveBox: another capture user's snapshot does not exist for bob
    snap = tc.get(f"/api/v1/core/snapshot/{before.uuid}", headers=_box(bob))
    assert snap.status_code == 404
    assert (
        tc.patch(
            f"/api/v1/core/snapshot/{before.uuid}", json={"status": "sealed"}, headers=_box(bob)
        ).status_code
        == 404
    )
    listed = tc.get("/api/v1/core/snapshots", headers=_box(bob))
    assert listed.status_code == 200
    assert before.uuid not in {s["id"] for s in listed.json()["items"]}
    removed = tc.post(
        "/api/v1/cli/remove",
        json={"filter_patterns": [before.url], "filter_type": "exact"},
        headers=_box(bob),
    )
    assert removed.status_code == 200 and removed.json()["result"]["removed_count"] == 0

    after = _row(guid)
    assert (after.title, after.folder_id, after.user_deleted, after.status) == (
        "Alice's",
        before.folder_id,
        False,
        "succeeded",
    )
    assert tc.get(f"/v1/archives/{guid}", headers=_perma(alice)).json()["title"] == "Alice's"
    owned = tc.get(f"/v1/archives/{guid}/download", headers=_perma(alice))
    assert owned.status_code == 200 and owned.content.endswith(b"not really")


def test_unknown_v1_paths_are_plain_text_page_not_found(tc: TestClient) -> None:
    for path in ("/v1/nope", "/v1/archives/ABCD-2345/nothing/here", "/v1/user/whatever/"):
        response = tc.get(path)
        assert (response.status_code, response.text) == (404, "Page Not Found"), path
        assert response.headers["content-type"].startswith("text/plain")
    other = tc.get("/custos/definitely-not-here")
    assert other.status_code == 404 and other.text != "Page Not Found"
    wrong = tc.put("/v1/public/archives")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": 'Method "PUT" not allowed.'})


def test_perma_cors_on_v1_paths(tc: TestClient) -> None:
    origin = {"Origin": "https://client.example"}
    preflight = tc.options(
        "/v1/archives/", headers={**origin, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 200  # would be 401 without credentials
    assert preflight.headers["access-control-allow-origin"] == "https://client.example"
    assert preflight.headers["access-control-allow-headers"] == "Authorization,Content-Type"
    assert preflight.headers["access-control-allow-methods"] == "*"
    unauthorized = tc.get("/v1/archives", headers=origin)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == "https://client.example"
    missing = tc.get("/v1/missing")
    assert missing.headers["access-control-allow-origin"] == "*"
    box = tc.get("/api/v1/core/snapshots", headers=origin).headers  # ArchiveBox's own
    assert box.get("access-control-allow-headers") != "Authorization,Content-Type"


def test_url_filter_matches_surt(tc: TestClient, recorded_runs: Any) -> None:
    _, key = _user()
    one = _create(tc, key, url="http://www.Surt-Test.example/page?b=2&a=1")
    _create(tc, key, url="http://surt-test.example/other")
    for query in (
        "https://surt-test.example/page?a=1&b=2",
        "surt-test.example/page?b=2&a=1",
        "http://WWW.surt-test.example/page?a=1&b=2#frag",
    ):
        found = tc.get("/v1/archives", params={"url": query}, headers=_perma(key)).json()
        assert [o["guid"] for o in found["objects"]] == [one["guid"]], query
    public = tc.get(
        "/v1/public/archives", params={"url": "https://surt-test.example/page?a=1&b=2"}
    ).json()
    assert [o["guid"] for o in public["objects"]] == [one["guid"]]
    none = tc.get(
        "/v1/archives", params={"url": "http://surt-test.example/page"}, headers=_perma(key)
    ).json()
    assert none["objects"] == []


def test_preserve_and_wacz_options_are_kept_per_capture(tc: TestClient, recorded_runs: Any) -> None:
    _, key = _user()
    kept = _create(tc, key, preserve=True, wacz=True)
    plain = _create(tc, key)
    refused = tc.post(
        "/v1/archives", json={"url": "http://example.com", "preserve": "maybe"}, headers=_perma(key)
    )
    assert refused.status_code == 400
    assert refused.json() == {"preserve": "Value must be of type bool, not str."}
    admin, admin_key = _user(admin=True)
    added = tc.post(
        "/api/v1/cli/add",
        json={"urls": ["http://example.org/"], "preserve": False},
        headers=_box(admin_key),
    )
    assert added.status_code == 200, added.text
    (snapshot_id,) = added.json()["result"]["snapshot_ids"]
    with session_scope() as s:
        assert wants_preservation(s, _row(kept["guid"]).uuid) is True
        assert wants_wacz(s, _row(kept["guid"]).uuid) is True
        assert wants_preservation(s, _row(plain["guid"]).uuid) is False  # setting: off
        assert wants_wacz(s, _row(plain["guid"]).uuid) is False
        assert wants_preservation(s, snapshot_id) is False
        job = s.exec(
            select(CaptureJob).where(col(CaptureJob.capture_uuid) == _row(kept["guid"]).uuid)
        ).one()
        assert job.archive_formats == "warc,wacz"
        invalid = s.exec(
            select(CaptureJob)
            .where(col(CaptureJob.status) == "invalid")
            .order_by(col(CaptureJob.id).desc())
        ).first()
        assert invalid is not None and json.loads(invalid.message or "{}") == {
            "preserve": "Value must be of type bool, not str."
        }
