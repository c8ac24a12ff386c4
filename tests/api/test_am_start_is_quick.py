"""Starting a transfer holds no request for the copy: the API answers in milliseconds
whatever the source's size, and the unit then shows the flow's copy job."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from custos.db import session_scope
from custos.models import LocationPurpose, Unit
from custos.storage import default_location

GIB = 1024**3

#: The answer never waits for the GiB: the copy is checked by what is on disk (nothing
#: while it waits, all of it once approved); the bound only catches a copy made in the
#: request, with room for a loaded machine (speed is measured in bench/, not here).
ANSWER_S = 5.0


class FirstStepOnly:
    """A dispatch backend that runs the transfer flow's first step (the copy) for real,
    in a thread, and nothing after it (the rest is not the point and would take long)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        from flows.transfer import transfer_steps

        assert flow_name == "transfer"
        uuid = parameters["unit_uuid"]
        with session_scope() as s:
            unit = s.get(Unit, uuid)
            assert unit is not None
        first = transfer_steps(unit)[0]

        def run() -> None:
            try:
                first.fn(uuid)
            except BaseException as exc:  # reported by the test waiting for the job
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()
        return f"first-step-{uuid}"


class RecordingWarmup:
    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        return "warm-up"


@pytest.fixture
def first_step(client: TestClient, auth: dict[str, str]) -> Any:
    """The backend above, installed once the app has served a small transfer (its
    first request imports what it needs: not what is measured here)."""
    from custos import dispatch
    from flows.transfer import transfer_steps  # noqa: F401 - imported before timing

    warm = RecordingWarmup()
    dispatch.set_backend(warm)
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    (Path(loc.path) / "warm-up").mkdir(exist_ok=True)
    (Path(loc.path) / "warm-up" / "a.txt").write_text("a\n")
    path = base64.b64encode(f"{loc.uuid}:warm-up".encode()).decode()
    body = json.dumps({"name": "warm-up", "path": path}).encode()
    assert client.post("/api/v2beta/package/", content=body, headers=auth).status_code == 202
    backend = FirstStepOnly()
    dispatch.set_backend(backend)
    yield backend
    dispatch.set_backend(None)
    for thread in backend.threads:
        thread.join(300)


@pytest.fixture
def big_source() -> Any:
    """A 1 GiB transfer in the default transfer source (sparse: every byte is still read
    and written by the copy); removed afterwards, with its copies in processing."""
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / f"big-{time.monotonic_ns()}"
    folder.mkdir()
    with open(folder / "disk.img", "wb") as fh:
        fh.truncate(GIB)
    (folder / "readme.txt").write_text("one GiB of zeros\n")
    yield loc.uuid, folder
    shutil.rmtree(folder)


def _jobs(client: TestClient, auth: dict[str, str], uuid: str) -> list[dict[str, Any]]:
    res = client.get(f"/api/v2beta/jobs/{uuid}", headers=auth)
    if res.status_code == 400 and "No jobs found" in res.text:  # not started yet
        return []
    assert res.status_code == 200, res.text
    jobs: list[dict[str, Any]] = res.json()
    return jobs


def _wait_for_copy(
    client: TestClient, auth: dict[str, str], uuid: str, runs: FirstStepOnly
) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        copy = [j for j in _jobs(client, auth, uuid) if j["name"] == "Move to processing directory"]
        if copy and copy[0]["status"] != "PROCESSING":
            return copy[0]
        if not runs.threads[0].is_alive() and not copy:
            pytest.fail(f"the copy step ended without its job: {runs.errors!r}")
        time.sleep(0.2)
    pytest.fail(f"the copy job did not finish: {runs.errors!r}")


def _cleanup(uuid: str) -> None:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.current_path
        shutil.rmtree(unit.current_path, ignore_errors=True)


def test_v2beta_package_of_a_gib_answers_at_once(
    client: TestClient, auth: dict[str, str], big_source: Any, first_step: FirstStepOnly
) -> None:
    loc_uuid, folder = big_source
    path = base64.b64encode(f"{loc_uuid}:{folder.name}".encode()).decode()
    body = json.dumps({"name": "gib", "path": path, "processing_config": "automated"})
    started = time.perf_counter()
    res = client.post("/api/v2beta/package/", content=body.encode(), headers=auth)
    elapsed = time.perf_counter() - started
    assert res.status_code == 202, res.text
    assert elapsed < ANSWER_S, f"v2beta/package took {elapsed:.3f} s"
    uuid = res.json()["id"]
    try:
        copy = _wait_for_copy(client, auth, uuid, first_step)
        assert copy["status"] == "COMPLETE" and copy["microservice"] == (
            "Verify transfer compliance"
        )
        status = client.get(f"/api/transfer/status/{uuid}", headers=auth).json()
        assert status["microservice"] == "Move to processing directory"
        assert (Path(status["path"]) / "disk.img").stat().st_size == GIB
    finally:
        first_step.threads[0].join(300)
        _cleanup(uuid)


def test_start_transfer_of_a_gib_answers_at_once_and_copies_once_approved(
    client: TestClient, auth: dict[str, str], big_source: Any, first_step: FirstStepOnly
) -> None:
    loc_uuid, folder = big_source
    path = base64.b64encode(f"{loc_uuid}:{folder.name}".encode()).decode()
    started = time.perf_counter()
    res = client.post(
        "/api/transfer/start_transfer/",
        headers=auth,
        data={"name": "gib-approve", "type": "standard", "paths[]": [path]},
    )
    elapsed = time.perf_counter() - started
    assert res.status_code == 200, res.text
    assert elapsed < ANSWER_S, f"start_transfer took {elapsed:.3f} s"
    directory = Path(res.json()["path"]).name
    assert not Path(res.json()["path"]).exists()  # nothing copied while it waits
    res = client.post(
        "/api/transfer/approve/", headers=auth, data={"directory": directory, "type": "standard"}
    )
    assert res.status_code == 200, res.text
    uuid = res.json()["uuid"]
    try:
        assert _wait_for_copy(client, auth, uuid, first_step)["status"] == "COMPLETE"
    finally:
        first_step.threads[0].join(300)
        _cleanup(uuid)
