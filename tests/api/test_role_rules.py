"""What each role may do, shown on real state: configurations, decisions, units, jobs,
captures, and keys that expire or change role while in use.

The table walk (``test_roles.py``) proves the 403s; these tests show that a refused
call changed nothing, and that the rules hold through the caches (the status
polls' fast path) and across dialects.
"""

from __future__ import annotations

import base64
import itertools
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select
from typer.testing import CliRunner

from api.archivematica.fastpath import StatusFastPath
from cli.main import app as cli_app
from custos import processing
from custos.accounts import create_api_key, create_user
from custos.captures import create_organization
from custos.db import session_scope
from custos.decisions import Choice, ask
from custos.models import ArchiveResult, Decision, Unit, UnitType
from custos.recorder import Recorder
from tests.api.am_helpers import add_jobs, make_unit, set_unit

_n = itertools.count()
NORMALIZE = Choice("612e3609-ce9a-4df6-a9a3-63d634d2d934", "Normalize for preservation")


def user(role: str, **extra: Any) -> tuple[str, str, int]:
    """A fresh user with ``role``: (username, key, id)."""
    made = create_user(f"rule-{role}-{next(_n)}", role=role, **extra)
    assert made.id is not None
    return made.username, create_api_key(made.id), made.id


def am(name: str, key: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {name}:{key}"}


def test_only_an_admin_changes_what_watched_folders_do(client: TestClient) -> None:
    original = processing.named_xml("automated")
    scan_off = original.replace(b"<processingMCP>", b"<processingMCP><!-- no scan -->")
    url = "/api/processing-configuration/automated"
    for role in ("capture", "auditor", "archivist"):
        name, key, _ = user(role)
        put = client.put(
            url, content=scan_off, headers={**am(name, key), "Content-Type": "text/xml"}
        )
        assert put.status_code == 403, role
        assert client.delete(url, headers=am(name, key)).status_code == 403, role
        assert processing.named_xml("automated") == original
    name, key, _ = user("archivist")  # reads it
    assert client.get(url, headers={**am(name, key), "Accept": "*/*"}).content == original
    name, key, _ = user("admin")
    put = client.put(url, content=original, headers={**am(name, key), "Content-Type": "text/xml"})
    assert put.status_code == 200 and processing.named_xml("automated") == original


def test_capture_and_auditor_keys_neither_decide_nor_hide_nor_start(
    client: TestClient, recorded_runs: Any
) -> None:
    sip = make_unit(UnitType.SIP, name="rule-decide")
    decision = ask(Recorder(), sip, microservice="Normalize", name="Normalize", choices=[NORMALIZE])
    done = make_unit(name="rule-done")
    add_jobs(done, ("Verify transfer compliance", "Move to processing directory"))
    set_unit(done, status="COMPLETE")
    with session_scope() as s:
        units_before = s.exec(select(func.count()).select_from(Unit)).one()
    for role in ("capture", "auditor"):
        name, key, _ = user(role)
        headers = am(name, key)
        answer = client.post(
            f"/api/v2beta/decisions/{decision.job_uuid}",
            headers=headers,
            json={"choice": NORMALIZE.id},
        )
        assert answer.status_code == 403, role
        assert client.delete(f"/api/transfer/{done}/delete/", headers=headers).status_code == 403
        assert client.delete("/api/transfer/delete/", headers=headers).status_code == 403
        started = client.post(
            "/api/transfer/start_transfer/",
            headers=headers,
            data={"name": "nope", "type": "standard", "paths[]": "eA=="},
        )
        assert started.status_code == 403
        assert (
            client.post(
                "/api/v2beta/package", headers=headers, json={"name": "nope", "path": "eA=="}
            ).status_code
            == 403
        )
    with session_scope() as s:
        pending = s.exec(select(Decision).where(col(Decision.job_uuid) == decision.job_uuid)).one()
        assert pending.choice is None
        hidden = s.get(Unit, done)
        assert hidden is not None and not hidden.hidden
        assert s.exec(select(func.count()).select_from(Unit)).one() == units_before
    assert recorded_runs.submitted == []
    name, key, _ = user("archivist")  # the archivist may
    assert (
        client.post(
            f"/api/v2beta/decisions/{decision.job_uuid}",
            headers=am(name, key),
            json={"choice": NORMALIZE.id},
        ).status_code
        == 200
    )
    assert recorded_runs.submitted == [("ingest", {"unit_uuid": sip})]


def test_the_auditor_reads_status_jobs_and_stored_aips_but_capture_does_not(
    client: TestClient,
) -> None:
    uuid = make_unit(name="rule-read")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    name, key, _ = user("auditor")
    status = client.get(f"/api/transfer/status/{uuid}", headers=am(name, key))
    assert status.status_code == 200 and status.json()["uuid"] == uuid
    jobs = client.get(f"/api/v2beta/jobs/{uuid}", headers=am(name, key))
    assert jobs.status_code == 200 and len(jobs.json()) == 1
    packages = client.get("/custos/aips", headers={"Authorization": f"Bearer {key}"})
    assert packages.status_code == 200 and isinstance(packages.json(), list)
    assert (
        client.get(f"/custos/units/{uuid}", headers={"Authorization": f"Bearer {key}"}).status_code
        == 200
    )
    name, key, _ = user("capture")
    refused = client.get(f"/api/v2beta/jobs/{uuid}", headers=am(name, key))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": True,
        "message": "Forbidden: the role capture may "
        "not do this; it needs admin or archivist or auditor.",
    }
    native = client.get(f"/custos/units/{uuid}", headers={"X-API-Key": key})
    assert native.status_code == 403 and native.json()["error"] == "Forbidden"


def test_a_role_change_takes_effect_at_the_next_poll(client: TestClient) -> None:
    uuid = make_unit(name="rule-demote")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    name, key, _ = user("archivist")
    path = f"/api/transfer/status/{uuid}"
    assert client.get(path, headers=am(name, key)).status_code == 200  # cached now
    before = StatusFastPath.served
    assert client.get(path, headers=am(name, key)).status_code == 200
    assert StatusFastPath.served == before + 1  # answered from the cache
    result = CliRunner().invoke(cli_app, ["user", "set-role", name, "capture"])
    assert result.exit_code == 0, result.stderr
    demoted = client.get(path, headers=am(name, key))
    assert demoted.status_code == 403 and "the role capture" in demoted.json()["message"]
    assert StatusFastPath.served == before + 1  # the fast path did not answer it


def test_archivebox_shows_a_capture_user_only_their_own_and_their_organisations(
    client: TestClient, recorded_runs: Any
) -> None:
    from custos.captures import create_capture

    (_, ann_key, ann_id), (_, bob_key, bob_id), (_, eve_key, _) = (
        user("capture"),
        user("capture"),
        user("capture"),
    )
    org = create_organization(f"rule-org-{next(_n)}", members=[ann_id, bob_id])
    with session_scope() as s:
        from custos.models import User

        ann = s.get(User, ann_id)
    assert ann is not None
    shared = create_capture("http://example.com/shared", ann, folder=org.shared_folder_id)
    own = client.post(
        "/api/v1/core/snapshots",
        headers={"X-ArchiveBox-API-Key": ann_key},
        json={"url": "http://example.com/personal", "tags": ["rule-tag"]},
    )
    assert own.status_code == 200, own.text
    personal = own.json()["id"]

    def seen(key: str) -> set[str]:
        res = client.get(
            "/api/v1/core/snapshots", headers={"X-ArchiveBox-API-Key": key}, params={"limit": 1000}
        )
        assert res.status_code == 200
        return {item["id"] for item in res.json()["items"]}

    assert {shared.uuid, personal} <= seen(ann_key)
    assert shared.uuid in seen(bob_key) and personal not in seen(bob_key)
    assert not {shared.uuid, personal} & seen(eve_key)
    eve = {"X-ArchiveBox-API-Key": eve_key}
    assert client.get(f"/api/v1/core/snapshot/{personal}", headers=eve).status_code == 404
    assert (
        client.patch(
            f"/api/v1/core/snapshot/{shared.uuid}", headers=eve, json={"status": "sealed"}
        ).status_code
        == 404
    )
    found = client.post(
        "/api/v1/cli/search", headers=eve, json={"filter_patterns": ["http://example.com/personal"]}
    )
    assert found.status_code == 200 and found.json()["result"] == []
    tag = client.get("/api/v1/core/tag/rule-tag", headers=eve)
    assert tag.status_code == 404  # only on ann's capture
    ann_tag = client.get("/api/v1/core/tag/rule-tag", headers={"X-ArchiveBox-API-Key": ann_key})
    assert ann_tag.status_code == 200 and ann_tag.json()["num_snapshots"] == 1
    with session_scope() as s:
        result = ArchiveResult(capture_uuid=shared.uuid, extractor="title", status="succeeded")
        s.add(result)
        s.flush()
        result_uuid = result.uuid
    for key, visible in ((ann_key, True), (bob_key, True), (eve_key, False)):
        results = client.get(
            "/api/v1/core/archiveresults",
            params={"limit": 1000},
            headers={"X-ArchiveBox-API-Key": key},
        )
        assert (result_uuid in {r["id"] for r in results.json()["items"]}) is visible
        one = client.get(
            f"/api/v1/core/archiveresult/{result_uuid}", headers={"X-ArchiveBox-API-Key": key}
        )
        assert one.status_code == (200 if visible else 404)
    removed = client.post(
        "/api/v1/cli/remove",
        headers=eve,
        json={"filter_patterns": ["example.com"], "filter_type": "domain"},
    )
    assert removed.json()["result"]["removed_count"] == 0
    assert {shared.uuid, personal} <= seen(ann_key)  # nothing of ann's was removed
    crawls = client.get("/api/v1/crawls/crawls", headers=eve).json()
    assert all(c["created_by_id"] != str(ann_id) for c in crawls)


def test_a_cli_password_logs_in_and_its_token_expires_in_every_dialect(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.archivebox.other

    runner = CliRunner()
    names = {}
    for role in ("archivist", "capture"):
        names[role] = f"rule-token-{role}-{next(_n)}"
        made = runner.invoke(
            cli_app,
            ["user", "create", names[role], "--role", role, "--password-stdin"],
            input=f"{role} passphrase\n",
        )
        assert made.exit_code == 0, made.stderr
    basic = base64.b64encode(f"{names['capture']}:capture passphrase".encode()).decode()
    assert (
        client.get(
            "/api/v1/core/snapshots", headers={"Authorization": f"Basic {basic}"}
        ).status_code
        == 200
    )

    monkeypatch.setattr(api.archivebox.other, "TOKEN_LIFETIME", timedelta(seconds=3))
    tokens = {}
    for role, name in names.items():
        issued = client.post(
            "/api/v1/auth/get_api_token", json={"username": name, "password": f"{role} passphrase"}
        ).json()
        assert issued["success"] is True, issued
        tokens[role] = issued["token"]
    deadline = time.monotonic() + 3
    unit = make_unit(name="rule-token")
    add_jobs(unit, ("Verify transfer compliance", "Move to processing directory"))
    status = f"/api/transfer/status/{unit}"
    archivist = am(names["archivist"], tokens["archivist"])
    capture_token = tokens["capture"]
    checks = {
        "archivebox": lambda: client.get(
            "/api/v1/core/snapshots", headers={"Authorization": f"Bearer {capture_token}"}
        ),
        "perma": lambda: client.get(
            "/v1/user", headers={"Authorization": f"ApiKey {capture_token}"}
        ),
        "archivematica": lambda: client.get(status, headers=archivist),
        "native": lambda: client.get(
            f"/custos/units/{unit}", headers={"Authorization": f"Bearer {tokens['archivist']}"}
        ),
    }
    assert {name: check().status_code for name, check in checks.items()} == {
        "archivebox": 200,
        "perma": 200,
        "archivematica": 200,
        "native": 200,
    }
    before = StatusFastPath.served
    assert client.get(status, headers=archivist).status_code == 200
    assert StatusFastPath.served == before + 1  # the token sits in the credential cache
    assert time.monotonic() < deadline, "too slow to see the tokens before they expire"

    time.sleep(max(0.0, deadline - time.monotonic()) + 0.5)
    assert {name: check().status_code for name, check in checks.items()} == {
        "archivebox": 401,
        "perma": 401,
        "archivematica": 403,
        "native": 401,
    }
    assert client.get(status, headers=archivist).json() == {
        "message": "API key not valid.",
        "error": True,
    }
    assert StatusFastPath.served == before + 1  # the fast path refused the expired token
    checked = client.post("/api/v1/auth/check_api_token", json={"token": capture_token})
    assert checked.json() == {"success": False, "user_id": None}
