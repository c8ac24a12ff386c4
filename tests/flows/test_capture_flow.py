"""One real capture of a loopback page through the API, the dispatcher and the flow."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select
from warcio.archiveiterator import ArchiveIterator

from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import ArchiveResult, Capture, CaptureJob, Unit, UnitStatus
from custos.settings import get_settings

PAGE = (b"<!DOCTYPE html><html><head><title>Flow test page</title>"
        b'<meta name="description" content="capture flow"></head>'
        b"<body><h1>Hello flow</h1></body></html>")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = PAGE if self.path == "/" else b"missing"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture()
def loopback(prefect_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CUSTOS_CAPTURE_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("CUSTOS_CAPTURE_TIMEOUT", "60")
    get_settings.cache_clear()
    if get_settings().chromium_executable() is None:
        pytest.skip("no Chromium executable")
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_capture_flow_records_warc_results_and_both_apis(custos_home: Path, site: str,
                                                          loopback: None) -> None:
    from api.app import create_app
    from custos import dispatch

    user = create_user("flow-admin", is_admin=True)
    assert user.id is not None
    key = create_api_key(user.id)
    dispatch.set_backend(dispatch.inline_backend())
    try:
        with TestClient(create_app()) as client:
            created = client.post("/v1/archives", json={"url": site},
                                  headers={"Authorization": f"ApiKey {key}"})
            assert created.status_code == 201
            guid = created.json()["guid"]
            dispatch.inline_backend().wait_all(timeout=300)
            with session_scope() as s:
                capture = s.exec(select(Capture).where(col(Capture.guid) == guid)).one()
                job = s.exec(select(CaptureJob).where(
                    col(CaptureJob.capture_uuid) == capture.uuid)).one()
                results = {r.extractor: r for r in s.exec(select(ArchiveResult).where(
                    col(ArchiveResult.capture_uuid) == capture.uuid)).all()}
                unit = s.get(Unit, capture.uuid)
            assert (capture.status, job.status) == ("succeeded", "completed"), job.message
            assert job.step_count >= 3 and job.capture_end_time is not None
            assert unit is not None and unit.status == UnitStatus.COMPLETE
            assert capture.title == "Flow test page"
            assert capture.warc_path and Path(capture.warc_path).is_file()
            assert {"warc", "screenshot", "dom", "headers", "title"} <= set(results)
            assert results["warc"].role == "primary" and results["warc"].status == "succeeded"
            assert results["screenshot"].output == "screenshot.png"

            perma = client.get(f"/v1/public/archives/{guid}").json()
            roles = {c["role"]: c["status"] for c in perma["captures"]}
            assert roles["primary"] == "success" and roles["screenshot"] == "success"
            snapshot = client.get(f"/api/v1/core/snapshot/{capture.uuid}",
                                  headers={"X-ArchiveBox-API-Key": key}).json()
            assert snapshot["status"] == "succeeded" and snapshot["num_archiveresults"] >= 5

            download = client.get(f"/v1/public/archives/{guid}/download")
            assert download.headers["content-type"] == "application/gzip"
            records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                        r.content_stream().read())
                       for r in ArchiveIterator(io.BytesIO(download.content))]
            assert [r[0] for r in records[:2]] == ["warcinfo", "warcinfo"]
            assert b"Perma-GUID: " + guid.encode() in records[0][2]
            assert records[2][0] == "warcinfo"  # the engine's own, after Perma's two
            page = [r for r in records if r[0] == "response" and r[1] == site]
            assert page and b"Hello flow" in page[0][2]
    finally:
        dispatch.set_backend(None)


def test_preserved_capture_becomes_stored_aip_with_warc_identified(
        custos_home: Path, site: str, loopback: None) -> None:
    from custos import dispatch
    from custos.captures import create_capture
    from custos.models import Event, File, Location, LocationPurpose, Package, PackageStatus
    from custos.storage import default_location

    user = create_user("flow-preserver")
    dispatch.set_backend(dispatch.inline_backend())
    try:
        capture = create_capture(site, user, preserve=True)
        assert dispatch.inline_backend().wait_all(900), "flows still running"
    finally:
        dispatch.set_backend(None)
    with session_scope() as s:
        row = s.get(Capture, capture.uuid)
        assert row is not None and row.status == "succeeded"
        result = s.exec(select(ArchiveResult).where(
            col(ArchiveResult.capture_uuid) == capture.uuid,
            col(ArchiveResult.extractor) == "preservation")).one()
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
        files = {Path(f.current_path).name: f for f in s.exec(select(File).where(
            col(File.sip_uuid) == row.aip_uuid, col(File.removed).is_(False))).all()}
        warc = files[f"{row.guid}.warc"]
        assert warc.puid in ("fmt/289", "fmt/1281"), warc.puid
        assert files["screenshot.png"].puid and "capture.json" in files
        events = {e.event_type: e for e in s.exec(select(Event).where(
            col(Event.file_uuid) == warc.uuid)).all()}
        assert events["format identification"].outcome_note == warc.puid
        assert {"ingestion", "message digest calculation", "virus check"} <= set(events)
        assert not s.exec(select(Event).where(col(Event.unit_uuid).in_(
            [sip.uuid, transfer.uuid]), col(Event.event_type) == "normalization")).all()
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / "captures"
    assert not list(source.glob(f"capture-{row.guid}-*"))  # the laid-out copy is removed
