"""A Perma batch of five loopback pages is captured for real, by one batch run on one
warm browser, each capture its own unit with its own WARC and WACZ, and shows up
through the ArchiveBox dialect as snapshots with their archive results."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import col, select

from custos import dispatch
from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import Capture, Unit, UnitStatus
from tests.capture.site import SiteServer


def test_perma_batch_of_five_appears_in_archivebox(site: SiteServer, live_captures: None) -> None:
    from api.app import create_app

    user = create_user("batch-admin", is_admin=True)
    assert user.id is not None
    key = create_api_key(user.id)
    perma, box = {"Authorization": f"ApiKey {key}"}, {"X-ArchiveBox-API-Key": key}
    urls = [f"{site.base}/page?n={n}" for n in range(1, 6)]
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        folder = client.get("/v1/folders", headers=perma).json()["objects"][0]["id"]
        before = set(dispatch.inline_backend().threads)
        made = client.post(
            "/v1/archives/batches",
            headers=perma,
            json={"urls": urls, "target_folder": folder, "wacz": True},
        )
        assert made.status_code == 201, made.text
        batch = made.json()
        assert len(batch["capture_jobs"]) == 5
        runs = set(dispatch.inline_backend().threads) - before
        assert len(runs) == 1 and next(iter(runs)).startswith("inline-capture-batch-5-units")
        assert dispatch.inline_backend().wait_all(900), "captures still running"
        done = client.get(f"/v1/archives/batches/{batch['id']}", headers=perma).json()
        jobs = {j["submitted_url"]: j for j in done["capture_jobs"]}
        assert set(jobs) == set(urls)
        assert {j["status"] for j in jobs.values()} == {"completed"}, jobs
        guids = {j["guid"] for j in jobs.values()}
        with session_scope() as s:  # each its own unit and files, all driven by one run
            captures = s.exec(select(Capture).where(col(Capture.guid).in_(guids))).all()
            units = [s.get(Unit, c.uuid) for c in captures]
        assert {u.flow_run_id for u in units if u is not None} == runs
        assert {u.status for u in units if u is not None} == {UnitStatus.COMPLETE}
        assert len({c.warc_path for c in captures}) == len({c.wacz_path for c in captures}) == 5
        assert all(Path(c.wacz_path or "").is_file() for c in captures)

        listed = client.get(
            "/api/v1/core/snapshots",
            headers=box,
            params={"with_archiveresults": "true", "limit": 500},
        ).json()
        snapshots = {s["url"]: s for s in listed["items"] if s["url"] in urls}
        assert set(snapshots) == set(urls)
        for n, url in enumerate(urls, start=1):
            snap = snapshots[url]
            assert snap["status"] == "succeeded" and snap["title"] == f"Page {n}"
            results = {r["extractor"]: r for r in snap["archiveresults"]}
            assert results["warc"]["status"] == "succeeded"
            assert results["screenshot"]["output"] == "screenshot.png"
            assert results["title"]["output"] == f"Page {n}"
            one = client.get(f"/api/v1/core/snapshot/{snap['id']}", headers=box).json()
            assert one["num_archiveresults"] == len(snap["archiveresults"])
        perma_view = client.get("/v1/archives", headers=perma, params={"limit": 300}).json()
        assert guids <= {o["guid"] for o in perma_view["objects"]}
