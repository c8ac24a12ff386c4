"""End-to-end captures of the local test site with real Chromium and real WARC files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from warcio.archiveiterator import ArchiveIterator

from tasks.capture import BrowserPool, CaptureOptions, capture
from tasks.capture.wacz import validate_wacz

from .site import CHUNKS, GZIP_TEXT, SiteServer


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
                          capture_output=True, text=True, check=False)


def read_records(path: Path) -> list[dict[str, object]]:
    records = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            records.append({
                "type": record.rec_type,
                "uri": record.rec_headers.get_header("WARC-Target-URI"),
                "id": record.rec_headers.get_header("WARC-Record-ID"),
                "headers": record.rec_headers,
                "http": record.http_headers,
                "raw": record.raw_stream.read() if record.rec_type != "warcinfo" else b"",
                "info": record.raw_stream.read() if record.rec_type == "warcinfo" else b"",
            })
    return records


@pytest.fixture(scope="module")
def full_capture(pool: BrowserPool, site: SiteServer, tmp_path_factory: pytest.TempPathFactory):
    before = len(site.hits)
    out = tmp_path_factory.mktemp("full")
    options = CaptureOptions(allow_loopback=True, network_idle_timeout=5, settle_timeout=1,
                             wacz=True, pdf=True)
    result = capture(site.base + "/old", out, options, pool=pool)
    return result, list(site.hits[before:]), read_records(result.warc_path)


def test_warc_passes_warcio_check(full_capture) -> None:
    result, _, _ = full_capture
    checked = warcio_check(result.warc_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "digest pass" in checked.stdout


def test_every_resource_the_page_loaded_is_recorded(full_capture, site: SiteServer) -> None:
    result, hits, records = full_capture
    recorded = {str(r["uri"]).removeprefix(site.base) for r in records
                if r["type"] in ("response", "revisit")}
    for path in ("/old", "/index.html", "/style.css", "/bg.png", "/img.png", "/img-copy.png",
                 "/app.js", "/data.json", "/gzip.txt", "/chunked.txt", "/missing",
                 "/lazy.png", "/icon.png"):
        assert path in hits, f"the browser never asked for {path}"
    assert set(hits) <= recorded
    assert result.resources == len(hits)
    statuses = {str(r["uri"]).removeprefix(site.base): r["http"].get_statuscode()
                for r in records if r["type"] == "response"}
    assert statuses["/old"] == "302" and statuses["/missing"] == "404"
    assert result.error is None and result.limit_hit is None and result.blocked == []


def test_each_response_has_its_request(full_capture) -> None:
    _, _, records = full_capture
    ids = {r["id"] for r in records if r["type"] in ("response", "revisit")}
    requests = [r for r in records if r["type"] == "request"]
    assert len(requests) == len(ids)
    assert {r["headers"].get_header("WARC-Concurrent-To") for r in requests} == ids
    assert all(r["http"].protocol.startswith("GET ") or r["http"].protocol == "GET"
               or str(r["http"].statusline).startswith("GET") for r in requests)


def test_bodies_are_kept_as_sent(full_capture, site: SiteServer) -> None:
    _, _, records = full_capture
    by_path = {str(r["uri"]).removeprefix(site.base): r for r in records
               if r["type"] == "response"}
    gz = by_path["/gzip.txt"]
    assert gz["http"].get_header("Content-Encoding") == "gzip"
    assert gzip.decompress(gz["raw"]) == GZIP_TEXT  # still compressed in the WARC
    chunked = by_path["/chunked.txt"]
    assert chunked["http"].get_header("Transfer-Encoding") == "chunked"
    assert chunked["raw"].startswith(b"%x\r\n" % len(CHUNKS[0]))  # chunk framing kept
    assert chunked["raw"].endswith(b"0\r\n\r\n")


def test_duplicate_payload_is_a_revisit(full_capture, site: SiteServer) -> None:
    _, _, records = full_capture
    revisits = [r for r in records if r["type"] == "revisit"]
    assert [str(r["uri"]).removeprefix(site.base) for r in revisits] in (
        ["/img-copy.png"], ["/img.png"])
    original = next(r for r in records if r["type"] == "response"
                    and r["id"] == revisits[0]["headers"].get_header("WARC-Refers-To"))
    assert original["headers"].get_header("WARC-Payload-Digest") == \
        revisits[0]["headers"].get_header("WARC-Payload-Digest")


def test_warcinfo_names_the_software(full_capture) -> None:
    _, _, records = full_capture
    assert records[0]["type"] == "warcinfo"
    info = records[0]["info"].decode()
    assert "Custos" in info and "Chromium" in info and "warcio" in info


def test_attachments_are_files_and_resource_records(full_capture) -> None:
    result, _, records = full_capture
    resources = {r["uri"]: r for r in records if r["type"] == "resource"}
    assert set(resources) == {"file:///screenshot.png", "file:///dom-snapshot.html",
                              "file:///pdf-snapshot.pdf", "file:///favicon.png",
                              "file:///provenance-summary.html",
                              "file:///provenance-summary.json"}
    assert resources["file:///screenshot.png"]["raw"] == result.screenshot_path.read_bytes()
    with Image.open(result.screenshot_path) as shot:
        assert shot.height > 6000  # full page, not the viewport
    dom = result.dom_path.read_text()
    assert "/data.json 200" in dom and "/chunked.txt 200 chunk one" in dom  # scripts ran
    assert result.pdf_path.read_bytes().startswith(b"%PDF")
    with Image.open(result.favicon_path) as icon:
        assert icon.size == (32, 32)


def test_page_info_and_provenance(full_capture, site: SiteServer, pool: BrowserPool) -> None:
    result, _, _ = full_capture
    assert result.title == "Custos test page"
    assert result.description == "A page for capture tests"
    assert result.favicon_url == site.base + "/icon.png"
    assert result.final_url == site.base + "/index.html" and result.status == 200
    summary = json.loads(result.provenance_json_path.read_text())
    assert summary["software"]["chromium"] == pool.browser_version
    assert summary["user_agent"] == result.user_agent and "Chrome" in result.user_agent
    assert summary["blocked_requests"] == [] and summary["limit_hit"] is None
    assert {"load", "network_idle", "scroll_and_settle"} <= set(summary["timings"])
    assert "Custos test page" in result.provenance_html_path.read_text()


def test_wacz_reopens_and_indexes_the_page(full_capture, site: SiteServer) -> None:
    result, _, _ = full_capture
    package = validate_wacz(result.wacz_path)
    assert package["mainPageUrl"] == site.base + "/old"
    with zipfile.ZipFile(result.wacz_path) as archive:
        index = archive.read("indexes/index.cdxj").decode()
        assert archive.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
    assert ')/index.html ' in index and '"status": "200"' in index


def test_size_limit_ends_capture_with_what_was_recorded(pool, site, tmp_path) -> None:
    options = CaptureOptions(allow_loopback=True, max_size=50_000, network_idle_timeout=3,
                             settle_timeout=1)
    result = capture(site.base + "/big.html", tmp_path, options, pool=pool)
    assert result.limit_hit == "max_size"
    assert result.total_bytes <= 50_000
    uris = [r["uri"] for r in read_records(result.warc_path) if r["type"] == "response"]
    assert site.base + "/big.html" in uris
    assert site.base + "/big.bin" not in uris
    assert warcio_check(result.warc_path).returncode == 0


def test_load_timeout_is_reported(pool, site, tmp_path) -> None:
    options = CaptureOptions(allow_loopback=True, load_timeout=1.5, network_idle_timeout=1)
    result = capture(site.base + "/hang.html?s=4", tmp_path, options, pool=pool)
    assert result.limit_hit == "load_timeout"
    assert result.screenshot_path is not None and result.warc_path.exists()
    assert warcio_check(result.warc_path).returncode == 0


def test_capture_timeout_is_reported(pool, site, tmp_path) -> None:
    options = CaptureOptions(allow_loopback=True, capture_timeout=1.5, load_timeout=20)
    result = capture(site.base + "/hang.html?s=4", tmp_path, options, pool=pool)
    assert result.limit_hit == "capture_timeout"
    assert result.timings["total"] < 15
    summary = json.loads(result.provenance_json_path.read_text())
    assert summary["limit_hit"] == "capture_timeout"
