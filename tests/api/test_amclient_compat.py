"""Compatibility with the real ``amclient`` (Python API and CLI) against a live server.

A uvicorn server runs ``create_app()`` in a background thread on a free loopback
port; flows run inline in the same process (``CUSTOS_DISPATCH=inline``). The full
transfer -> ingest -> AIP path runs the real transfer and ingest flows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from amclient import AMClient

from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import Package, PackageStatus
from custos.storage import LocationPurpose, default_location
from tests.support.served import served

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(app: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1; yields its base URL.

    Flows run in this process: the working directory is a scratch folder meanwhile,
    so no flow step can ever touch the checkout the tests run from.
    """
    previous_cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("amclient-cwd"))
    with served(app, lifespan="off") as url:
        yield url
    from custos import dispatch

    dispatch.inline_backend().wait_all(60)  # no flow outlives the test in the background
    os.chdir(previous_cwd)


@pytest.fixture(scope="module")
def am(server: str, custos_home: Any) -> AMClient:
    user = create_user("amclient-user")
    assert user.id is not None
    return AMClient(
        am_url=server,
        am_user_name=user.username,
        am_api_key=create_api_key(user.id),
        output_mode="json",
    )


def source(name: str) -> tuple[str, str]:
    """A small transfer folder in the default transfer source: (location uuid, name)."""
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / name
    folder.mkdir(exist_ok=True)
    (folder / "readme.txt").write_text(f"Transfer {name}\n")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    return loc.uuid, name


def poll(func: Any, done: Any, timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = func()
        if done(last):
            return last
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting; last answer: {last!r}")


def cli(am: AMClient, *args: str) -> Any:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from amclient.amclient import main; main()",
            *args,
            "--am-url",
            am.am_url,
            "--am-user-name",
            am.am_user_name,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_processing_config_and_completed_lists(am: AMClient) -> None:
    am.processing_config = "automated"
    xml = am.get_processing_config()
    assert isinstance(xml, str) and "<processingMCP>" in xml
    assert isinstance(am.completed_transfers()["results"], list)
    assert (
        cli(am, "completed-ingests", am.am_api_key)["message"]
        == "Fetched completed ingests successfully."
    )
    assert "<processingMCP>" in cli(
        am, "get-processing-config", am.am_api_key, "--processing-config", "automated"
    )


def test_approve_transfer_started_waiting(am: AMClient, server: str) -> None:
    import base64

    loc, name = source("amc-approve")
    encoded = base64.b64encode(f"{loc}:{name}".encode()).decode()
    res = httpx.post(
        f"{server}/api/transfer/start_transfer/",
        params={"username": am.am_user_name, "api_key": am.am_api_key},
        data={"name": name, "type": "standard", "paths[]": [encoded], "row_ids[]": [""]},
    )
    assert res.status_code == 200, res.text
    directory = Path(res.json()["path"]).name
    unapproved = am.unapproved_transfers()["results"]
    assert any(u["directory"] == directory for u in unapproved)
    am.transfer_directory, am.transfer_type = directory, "standard"
    approved = am.approve_transfer()
    assert approved["message"] == "Approval successful."
    am.transfer_uuid = approved["uuid"]
    status = poll(am.get_transfer_status, lambda s: s["status"] != "USER_INPUT")
    assert status["status"] in ("PROCESSING", "COMPLETE", "FAILED")
    assert status["status"] != "FAILED", status


def package(am: AMClient, name: str) -> dict[str, Any]:
    """Set ``am`` up to package the source folder ``name`` with the automated config."""
    loc, name = source(name)
    am.transfer_source, am.transfer_directory = loc, name
    am.transfer_name, am.transfer_type, am.processing_config = name, "standard", "automated"
    am.idempotency_key = f"amclient-compat-{name}"
    created = am.create_package()
    assert isinstance(created, dict), created
    return created


@pytest.fixture(scope="module")
def stored_aip(am: AMClient) -> dict[str, str]:
    """A folder packaged through ``amclient`` and followed to its stored AIP, once per
    module: {"transfer": uuid, "sip_uuid": uuid, "name": source folder name}."""
    created = package(am, "amc-pkg")
    am.transfer_uuid = created["id"]
    status = poll(
        am.get_transfer_status,
        lambda s: (
            isinstance(s, dict)
            and (s.get("status") in ("FAILED", "REJECTED", "USER_INPUT") or s.get("sip_uuid"))
        ),
    )
    assert status["status"] == "COMPLETE", status
    am.sip_uuid = status["sip_uuid"]
    ingest = poll(
        am.get_ingest_status,
        lambda s: (
            isinstance(s, dict)
            and s.get("status") in ("COMPLETE", "FAILED", "REJECTED", "USER_INPUT")
        ),
    )
    assert ingest["status"] == "COMPLETE", ingest
    return {"transfer": created["id"], "sip_uuid": status["sip_uuid"], "name": "amc-pkg"}


def test_package_to_stored_aip(am: AMClient, stored_aip: dict[str, str]) -> None:
    created = {"id": stored_aip["transfer"]}
    sip_uuid, name = stored_aip["sip_uuid"], stored_aip["name"]
    assert package(am, name) == created  # idempotent retry: the same transfer, no new one
    assert am.get_unit_status(created["id"])["status"] == "COMPLETE"
    am.unit_uuid, am.job_microservice = created["id"], "Microservice: Scan for viruses"
    jobs = am.get_jobs()
    assert jobs and all(j["microservice"] == "Scan for viruses" for j in jobs)
    cli_jobs = cli(
        am, "get-jobs", am.am_api_key, created["id"], "--job-microservice", "Scan for viruses"
    )
    assert [j["uuid"] for j in cli_jobs] == [j["uuid"] for j in jobs]
    assert created["id"] in am.completed_transfers()["results"]
    closed = am.close_completed_transfers()
    assert created["id"] in closed["close_succeeded"]
    assert created["id"] not in am.completed_transfers()["results"]
    with session_scope() as s:
        pkg = s.get(Package, sip_uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
        store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
        from custos.models import Location

        loc_row = s.get(Location, pkg.location_uuid)
        assert loc_row is not None
        aip = Path(loc_row.path) / pkg.path
    assert aip.exists() and (store in aip.parents or loc_row.path != str(store))


def test_partial_reingest_approved_with_amclient(am: AMClient, stored_aip: dict[str, str]) -> None:
    sip_uuid, name = stored_aip["sip_uuid"], stored_aip["name"]
    am.sip_uuid = sip_uuid
    res = httpx.post(
        f"{am.am_url}/api/ingest/reingest",
        headers={"Authorization": f"ApiKey {am.am_user_name}:{am.am_api_key}"},
        data={"name": name, "uuid": sip_uuid},
    )
    assert res.status_code == 200, res.text
    waiting = poll(
        am.get_ingest_status,
        lambda s: isinstance(s, dict) and s.get("status") in ("USER_INPUT", "COMPLETE", "FAILED"),
    )
    assert waiting["status"] == "USER_INPUT", waiting
    assert am.approve_partial_reingest() == {"message": "Approval successful."}
    final = poll(
        am.get_ingest_status,
        lambda s: isinstance(s, dict) and s.get("status") in ("COMPLETE", "FAILED", "REJECTED"),
    )
    assert final["status"] == "COMPLETE", final
    shutil.rmtree(
        Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / name, ignore_errors=True
    )
