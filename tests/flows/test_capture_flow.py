"""One real capture of a loopback page through the API, the dispatcher and the flow."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import col, select
from warcio.archiveiterator import ArchiveIterator

from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import ArchiveResult, Capture, CaptureJob, Unit, UnitStatus
from tests.capture.site import SiteServer


def test_capture_flow_records_warc_results_and_both_apis(
    site: SiteServer, live_captures: None
) -> None:
    from api.app import create_app
    from custos import dispatch

    url = f"{site.base}/simple.html"
    user = create_user("flow-admin", is_admin=True)
    assert user.id is not None
    key = create_api_key(user.id)
    with TestClient(create_app()) as client:
        created = client.post(
            "/v1/archives", json={"url": url}, headers={"Authorization": f"ApiKey {key}"}
        )
        assert created.status_code == 201
        guid = created.json()["guid"]
        dispatch.inline_backend().wait_all(timeout=300)
        with session_scope() as s:
            capture = s.exec(select(Capture).where(col(Capture.guid) == guid)).one()
            job = s.exec(
                select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)
            ).one()
            results = {
                r.extractor: r
                for r in s.exec(
                    select(ArchiveResult).where(col(ArchiveResult.capture_uuid) == capture.uuid)
                ).all()
            }
            unit = s.get(Unit, capture.uuid)
        assert (capture.status, job.status) == ("succeeded", "completed"), job.message
        assert job.step_count >= 3 and job.capture_end_time is not None
        assert unit is not None and unit.status == UnitStatus.COMPLETE
        assert capture.title == "simple"
        assert capture.warc_path and Path(capture.warc_path).is_file()
        assert {"warc", "screenshot", "dom", "headers", "title"} <= set(results)
        assert results["warc"].role == "primary" and results["warc"].status == "succeeded"
        assert results["screenshot"].output == "screenshot.png"

        perma = client.get(f"/v1/public/archives/{guid}").json()
        roles = {c["role"]: c["status"] for c in perma["captures"]}
        assert roles["primary"] == "success" and roles["screenshot"] == "success"
        snapshot = client.get(
            f"/api/v1/core/snapshot/{capture.uuid}", headers={"X-ArchiveBox-API-Key": key}
        ).json()
        assert snapshot["status"] == "succeeded" and snapshot["num_archiveresults"] >= 5

        download = client.get(f"/v1/public/archives/{guid}/download")
        assert download.headers["content-type"] == "application/gzip"
        records = [
            (r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
            for r in ArchiveIterator(io.BytesIO(download.content))
        ]
        assert [r[0] for r in records[:2]] == ["warcinfo", "warcinfo"]
        assert b"Perma-GUID: " + guid.encode() in records[0][2]
        assert records[2][0] == "warcinfo"  # the engine's own, after Perma's two
        page = [r for r in records if r[0] == "response" and r[1] == url]
        assert page and b"<title>simple</title>" in page[0][2]


def test_preserved_capture_becomes_stored_aip_with_warc_identified(
    site: SiteServer, live_captures: None
) -> None:
    from custos import dispatch
    from custos.captures import create_capture
    from custos.models import Event, File, Location, LocationPurpose, Package, PackageStatus
    from custos.storage import default_location

    user = create_user("flow-preserver")
    capture = create_capture(f"{site.base}/simple.html", user, preserve=True)
    assert dispatch.inline_backend().wait_all(900), "flows still running"
    with session_scope() as s:
        row = s.get(Capture, capture.uuid)
        assert row is not None and row.status == "succeeded"
        result = s.exec(
            select(ArchiveResult).where(
                col(ArchiveResult.capture_uuid) == capture.uuid,
                col(ArchiveResult.extractor) == "preservation",
            )
        ).one()
        assert result.status == "succeeded", result.output
        assert row.aip_uuid and result.output == row.aip_uuid
        sip = s.get(Unit, row.aip_uuid)
        assert sip is not None
        assert sip.status == UnitStatus.COMPLETE, sip.error
        transfer = s.get(Unit, sip.transfer_uuid)
        assert transfer is not None
        assert (transfer.processing_config, transfer.accession) == ("capture", row.guid)
        package = s.get(Package, row.aip_uuid)
        assert package is not None and package.status == PackageStatus.STORED
        location = s.get(Location, package.location_uuid)
        assert location is not None and (Path(location.path) / package.path).exists()
        files = {
            Path(f.current_path).name: f
            for f in s.exec(
                select(File).where(col(File.sip_uuid) == row.aip_uuid, col(File.removed).is_(False))
            ).all()
        }
        warc = files[f"{row.guid}.warc"]
        assert warc.puid in ("fmt/289", "fmt/1281"), warc.puid
        assert files["screenshot.png"].puid and "capture.json" in files
        events = {
            e.event_type: e
            for e in s.exec(select(Event).where(col(Event.file_uuid) == warc.uuid)).all()
        }
        assert events["format identification"].outcome_note == warc.puid
        assert {"ingestion", "message digest calculation", "virus check"} <= set(events)
        assert not s.exec(
            select(Event).where(
                col(Event.unit_uuid).in_([sip.uuid, transfer.uuid]),
                col(Event.event_type) == "normalization",
            )
        ).all()
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / "captures"
    assert not list(source.glob(f"capture-{row.guid}-*"))  # the laid-out copy is removed
