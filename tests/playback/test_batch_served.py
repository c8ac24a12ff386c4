"""A Perma batch through a running ``custos serve``: one ``capture-batch`` flow run on
the Prefect server, and under it every capture as a ``capture`` flow run of its own,
each capture its own unit with its own WARC and WACZ."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.playback.conftest import Served

pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]


def _flow_runs(prefect: str) -> list[dict[str, Any]]:
    flows = {f["id"]: f["name"] for f in httpx.post(f"{prefect}/flows/filter", json={}).json()}
    runs: list[dict[str, Any]] = httpx.post(
        f"{prefect}/flow_runs/filter", json={"limit": 200}
    ).json()
    for run in runs:
        run["flow_name"] = flows.get(run["flow_id"])
    return runs


def test_batch_is_one_flow_run_with_a_capture_run_per_page(served: Served) -> None:
    perma = {"Authorization": f"ApiKey {served.keys['bob']}"}
    prefect = json.loads((served.home / "run" / "serve.json").read_text())["prefect_api_url"]
    folder = httpx.get(f"{served.url}/v1/user", headers=perma).json()["top_level_folders"][0]
    urls = [f"{served.site.base}/dynamic.html?n={n}" for n in range(3)]
    made = httpx.post(
        f"{served.url}/v1/archives/batches",
        json={"urls": urls, "target_folder": folder["id"], "wacz": True},
        headers=perma,
        timeout=60,
    )
    assert made.status_code == 201, made.text
    batch = made.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        jobs = httpx.get(f"{served.url}/v1/archives/batches/{batch}", headers=perma).json()
        if all(j["status"] in ("completed", "failed") for j in jobs["capture_jobs"]):
            break
        time.sleep(1)
    assert [j["status"] for j in jobs["capture_jobs"]] == ["completed"] * 3, jobs
    guids = [j["guid"] for j in jobs["capture_jobs"]]
    for guid in guids:  # each its own WARC and WACZ
        for kind in ("warc", "wacz"):
            got = httpx.get(f"{served.url}/{guid}/{kind}", headers=perma)
            assert got.status_code == 200 and got.content, (guid, kind)

    # the batch run ends just after its last capture is recorded
    deadline = time.monotonic() + 120
    while True:
        runs = _flow_runs(prefect)
        batches = [r for r in runs if r["flow_name"] == "capture-batch"]
        if time.monotonic() > deadline or any(r["state_type"] != "RUNNING" for r in batches):
            break
        time.sleep(1)
    assert len(batches) == 1 and batches[0]["state_type"] == "COMPLETED", batches
    parents = httpx.post(  # the batch run's task runs that stand for its subflows
        f"{prefect}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [batches[0]["id"]]}}, "limit": 200},
    ).json()
    under = {t["id"] for t in parents}
    children = [r for r in runs if r["flow_name"] == "capture" and r["parent_task_run_id"] in under]
    assert len(children) == 3 and {r["state_type"] for r in children} == {"COMPLETED"}, children
    assert len({r["parameters"]["unit_uuid"] for r in children}) == 3
