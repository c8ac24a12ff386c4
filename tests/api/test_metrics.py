"""``GET /metrics``: admins only, Prometheus' text format, and numbers that move with
real work (a transfer packaged through the Archivematica API, run inline to a stored
AIP, then audited)."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from custos import dispatch
from custos.storage import LocationPurpose, default_location
from tests.api.conftest import new_user

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, headers: dict[str, str]) -> Samples:
    res = client.get("/metrics", headers=headers)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(res.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


@pytest.fixture()
def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {new_user('admin')[1]}"}


def test_metrics_are_for_admins_only(client: TestClient, bearer: dict[str, str]) -> None:
    assert client.get("/metrics").status_code == 401
    archivist = {"Authorization": f"Bearer {new_user('archivist')[1]}"}
    refused = client.get("/metrics", headers=archivist)
    assert refused.status_code == 403
    assert refused.json()["error"] == "Forbidden"
    samples = scrape(client, bearer)
    assert value(samples, "custos_prefect_up") == 0.0  # inline: no Prefect to ask


def _package(client: TestClient, auth: dict[str, str], name: str) -> str:
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / name
    folder.mkdir(exist_ok=True)
    (folder / "readme.txt").write_text("metrics\n" * 100)
    (folder / "data.csv").write_text("a,b\n1,2\n")
    body = {
        "name": name,
        "path": base64.b64encode(f"{loc.uuid}:{name}".encode()).decode(),
        "type": "standard",
        "processing_config": "automated",
    }
    res = client.post("/api/v2beta/package/", content=json.dumps(body).encode(), headers=auth)
    assert res.status_code == 202, res.text
    return str(res.json()["id"])


def _wait_sip(client: TestClient, auth: dict[str, str], transfer: str) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert dispatch.inline_backend().wait_all(300)
        status = client.get(f"/api/transfer/status/{transfer}/", headers=auth).json()
        if status.get("sip_uuid") and status["sip_uuid"] != "BACKLOG":
            sip = str(status["sip_uuid"])
            ingest = client.get(f"/api/ingest/status/{sip}/", headers=auth).json()
            if ingest.get("status") in ("COMPLETE", "FAILED", "USER_INPUT"):
                assert ingest["status"] == "COMPLETE", ingest
                return sip
        assert status.get("status") not in ("FAILED", "REJECTED", "USER_INPUT"), status
        time.sleep(0.2)
    raise AssertionError("the transfer did not become an AIP in time")


def test_metrics_move_with_a_transfer_to_a_stored_aip(
    client: TestClient, auth: dict[str, str], bearer: dict[str, str], tmp_path: Path
) -> None:
    from flows.audit import audit_package

    os.chdir(tmp_path)  # inline flows run in this process: never in the checkout
    before = scrape(client, bearer)
    transfer = _package(client, auth, "metrics-pkg")
    sip = _wait_sip(client, auth, transfer)
    stored = scrape(client, bearer)
    assert audit_package(sip).outcome == "pass"
    after = scrape(client, bearer)
    audits = ("custos_fixity_checks", (("outcome", "pass"), ("scope", "package")))
    assert after[audits] == stored[audits] + 1  # the audit's own event

    def grew(name: str, by: float | None = None, **labels: str) -> None:
        old, new = total(before, name, **labels), total(after, name, **labels)
        assert new > old, (name, labels, old, new)
        if by is not None:
            assert new - old == by, (name, labels, old, new)

    grew("custos_units", 1, type="transfer", status="COMPLETE")
    grew("custos_units", 1, type="SIP", status="COMPLETE")
    grew("custos_jobs", microservice="Scan for viruses", outcome="COMPLETE")
    grew("custos_jobs", microservice="Store AIP", outcome="COMPLETE")
    grew("custos_job_duration_seconds_count", microservice="Scan for viruses")
    grew("custos_job_duration_seconds_bucket", microservice="Store AIP", le="+Inf")
    grew("custos_tasks")
    grew("custos_files", use="original")
    grew("custos_file_bytes", use="original")
    grew("custos_packages", 1, type="AIP", status="STORED")
    grew("custos_package_bytes", type="AIP", status="STORED")
    grew("custos_fixity_checks", scope="package", outcome="pass")
    grew("custos_http_requests_total", 1, method="POST", route="/api/v2beta/package")
    grew("custos_http_requests_total", method="GET", route="/api/transfer/status/{unit_uuid}")
    grew("custos_http_request_duration_seconds_count", route="/api/ingest/status/{unit_uuid}")
    # a scrape is counted once answered: the first two scrapes show in the third
    grew("custos_http_requests_total", 2, method="GET", route="/metrics", status="200")
    assert value(after, "custos_units", type="transfer", status="FAILED") == value(
        before, "custos_units", type="transfer", status="FAILED"
    )


def test_metrics_count_the_queue_from_prefect(
    client: TestClient, bearer: dict[str, str], monkeypatch: Any
) -> None:
    """With a Prefect API that does not answer, the queue is not invented: up is 0."""
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    samples = scrape(client, bearer)
    assert value(samples, "custos_prefect_up") == 0.0
    assert total(samples, "custos_flow_runs_queued") == 0.0
