"""End-to-end captures of the local test site with real Chromium and real WARC files."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import surt
from PIL import Image
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from tasks.capture import BrowserPool, CaptureOptions, CaptureResult, capture
from tasks.capture.wacz import validate_wacz

from .site import CHUNKS, GZIP_TEXT, SiteServer


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def made(path: Path | None) -> Path:
    """The path of an output the capture must have made."""
    assert path is not None, "the capture did not make this output"
    return path


def wacz_validate(path: Path) -> subprocess.CompletedProcess[str]:
    """py-wacz's own validator (``wacz validate``), as a separate process.

    Called like its console script does, because ``python -m wacz`` drops the
    exit status.
    """
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from wacz.main import main; sys.exit(main())",
            "validate",
            "-f",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            records.append(
                {
                    "type": record.rec_type,
                    "uri": record.rec_headers.get_header("WARC-Target-URI"),
                    "id": record.rec_headers.get_header("WARC-Record-ID"),
                    "headers": record.rec_headers,
                    "http": record.http_headers,
                    "raw": record.raw_stream.read() if record.rec_type != "warcinfo" else b"",
                    "info": record.raw_stream.read() if record.rec_type == "warcinfo" else b"",
                }
            )
    return records


#: The capture result, the paths the site served for it, and the WARC records.
FullCapture = tuple[CaptureResult, list[str], list[dict[str, Any]]]

#: Body bytes the site wrote during ``full_capture``, by path and query.
SERVED: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def full_capture(
    pool: BrowserPool, site: SiteServer, tmp_path_factory: pytest.TempPathFactory
) -> FullCapture:
    before = len(site.hits)
    out = tmp_path_factory.mktemp("full")
    options = CaptureOptions(
        allow_loopback=True, network_idle_timeout=5, settle_timeout=1, wacz=True, pdf=True
    )
    site.served.clear()
    result = capture(site.base + "/old", out, options, pool=pool)
    SERVED.clear()
    SERVED.update(site.served)
    return result, list(site.hits[before:]), read_records(made(result.warc_path))


def test_warc_passes_warcio_check(full_capture: FullCapture) -> None:
    result, _, _ = full_capture
    checked = warcio_check(made(result.warc_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "digest pass" in checked.stdout


def test_every_resource_the_page_loaded_is_recorded(
    full_capture: FullCapture, site: SiteServer
) -> None:
    result, hits, records = full_capture
    recorded = {
        str(r["uri"]).removeprefix(site.base)
        for r in records
        if r["type"] in ("response", "revisit")
    }
    for path in (
        "/old",
        "/index.html",
        "/style.css",
        "/bg.png",
        "/img.png",
        "/img-copy.png",
        "/app.js",
        "/data.json",
        "/gzip.txt",
        "/chunked.txt",
        "/missing",
        "/lazy.png",
        "/icon.png",
    ):
        assert path in hits, f"the browser never asked for {path}"
    assert set(hits) <= recorded
    assert result.resources == len(hits)
    statuses = {
        str(r["uri"]).removeprefix(site.base): r["http"].get_statuscode()
        for r in records
        if r["type"] == "response"
    }
    assert statuses["/old"] == "302" and statuses["/missing"] == "404"
    assert result.error is None and result.limit_hit is None and result.blocked == []


def test_each_response_has_its_request(full_capture: FullCapture) -> None:
    _, _, records = full_capture
    ids = {r["id"] for r in records if r["type"] in ("response", "revisit")}
    requests = [r for r in records if r["type"] == "request"]
    assert len(requests) == len(ids)
    assert {r["headers"].get_header("WARC-Concurrent-To") for r in requests} == ids
    assert all(
        r["http"].protocol.startswith("GET ")
        or r["http"].protocol == "GET"
        or str(r["http"].statusline).startswith("GET")
        for r in requests
    )


def test_bodies_are_kept_as_sent(full_capture: FullCapture, site: SiteServer) -> None:
    _, _, records = full_capture
    by_path = {str(r["uri"]).removeprefix(site.base): r for r in records if r["type"] == "response"}
    gz = by_path["/gzip.txt"]
    assert gz["http"].get_header("Content-Encoding") == "gzip"
    assert gzip.decompress(gz["raw"]) == GZIP_TEXT  # still compressed in the WARC
    chunked = by_path["/chunked.txt"]
    assert chunked["http"].get_header("Transfer-Encoding") == "chunked"
    assert chunked["raw"].startswith(b"%x\r\n" % len(CHUNKS[0]))  # chunk framing kept
    assert chunked["raw"].endswith(b"0\r\n\r\n")


def test_duplicate_payload_is_a_revisit(full_capture: FullCapture, site: SiteServer) -> None:
    _, _, records = full_capture
    revisits = [r for r in records if r["type"] == "revisit"]
    assert [str(r["uri"]).removeprefix(site.base) for r in revisits] in (
        ["/img-copy.png"],
        ["/img.png"],
    )
    original = next(
        r
        for r in records
        if r["type"] == "response"
        and r["id"] == revisits[0]["headers"].get_header("WARC-Refers-To")
    )
    assert original["headers"].get_header("WARC-Payload-Digest") == revisits[0][
        "headers"
    ].get_header("WARC-Payload-Digest")


def test_warcinfo_names_the_software(full_capture: FullCapture) -> None:
    _, _, records = full_capture
    assert records[0]["type"] == "warcinfo"
    info = records[0]["info"].decode()
    assert "Custos" in info and "Chromium" in info and "warcio" in info


def test_attachments_are_files_and_resource_records(full_capture: FullCapture) -> None:
    result, _, records = full_capture
    resources = {r["uri"]: r for r in records if r["type"] == "resource"}
    assert set(resources) == {
        "file:///screenshot.png",
        "file:///dom-snapshot.html",
        "file:///pdf-snapshot.pdf",
        "file:///favicon.png",
        "file:///provenance-summary.html",
        "file:///provenance-summary.json",
    }
    assert resources["file:///screenshot.png"]["raw"] == made(result.screenshot_path).read_bytes()
    with Image.open(made(result.screenshot_path)) as shot:
        assert shot.height > 6000  # full page, not the viewport
    dom = made(result.dom_path).read_text()
    assert "/data.json 200" in dom and "/chunked.txt 200 chunk one" in dom  # scripts ran
    assert made(result.pdf_path).read_bytes().startswith(b"%PDF")
    with Image.open(made(result.favicon_path)) as icon:
        assert icon.size == (32, 32)


def test_page_info_and_provenance(
    full_capture: FullCapture, site: SiteServer, pool: BrowserPool
) -> None:
    result, _, _ = full_capture
    assert result.title == "Custos test page"
    assert result.description == "A page for capture tests"
    assert result.favicon_url == site.base + "/icon.png"
    assert result.final_url == site.base + "/index.html" and result.status == 200
    summary = json.loads(made(result.provenance_json_path).read_text())
    assert summary["software"]["chromium"] == pool.browser_version
    assert summary["user_agent"] == result.user_agent and "Chrome" in result.user_agent
    assert summary["blocked_requests"] == [] and summary["limit_hit"] is None
    assert {"load", "network_idle", "scroll_and_settle"} <= set(summary["timings"])
    assert "Custos test page" in made(result.provenance_html_path).read_text()


def test_wacz_reopens_and_indexes_the_page(full_capture: FullCapture, site: SiteServer) -> None:
    result, _, _ = full_capture
    package = validate_wacz(made(result.wacz_path))
    assert package["mainPageUrl"] == site.base + "/old"
    with zipfile.ZipFile(made(result.wacz_path)) as archive:
        index = archive.read("indexes/index.cdxj").decode()
        assert archive.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
    assert ")/index.html " in index and '"status": "200"' in index


def test_size_limit_ends_capture_with_what_was_recorded(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    options = CaptureOptions(
        allow_loopback=True, max_size=50_000, network_idle_timeout=3, settle_timeout=1
    )
    result = capture(site.base + "/big.html", tmp_path, options, pool=pool)
    assert result.limit_hit == "max_size"
    assert result.total_bytes <= 50_000
    records = read_records(made(result.warc_path))
    uris = [r["uri"] for r in records if r["type"] == "response"]
    assert site.base + "/big.html" in uris
    assert site.base + "/big.bin" not in uris
    assert warcio_check(made(result.warc_path)).returncode == 0
    summary = json.loads(made(result.provenance_json_path).read_text())
    assert summary["limit_hit"] == "max_size" and summary["limits"]["max_size"] == 50_000
    pageinfo = json.loads(next(bytes(r["raw"]) for r in records if r["type"] == "metadata"))
    assert pageinfo["limitHit"] == "max_size"


def test_resource_limit_ends_capture_with_what_was_recorded(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    options = CaptureOptions(
        allow_loopback=True, max_resources=2, network_idle_timeout=3, settle_timeout=1
    )
    result = capture(site.base + "/index.html", tmp_path, options, pool=pool)
    assert result.limit_hit == "max_resources"
    records = read_records(made(result.warc_path))
    uris = [r["uri"] for r in records if r["type"] == "response"]
    page_requests = [u for u in uris if not u.endswith("/icon.png")]  # favicon: attachment
    assert page_requests[0] == site.base + "/index.html" and len(page_requests) == 2, uris
    assert warcio_check(made(result.warc_path)).returncode == 0
    summary = json.loads(made(result.provenance_json_path).read_text())
    assert summary["limit_hit"] == "max_resources"
    assert summary["limits"]["max_resources"] == 2


def test_load_timeout_is_reported(pool: BrowserPool, site: SiteServer, tmp_path: Path) -> None:
    options = CaptureOptions(allow_loopback=True, load_timeout=1.5, network_idle_timeout=1)
    result = capture(site.base + "/hang.html?s=4", tmp_path, options, pool=pool)
    assert result.limit_hit == "load_timeout"
    assert result.screenshot_path is not None and made(result.warc_path).exists()
    assert warcio_check(made(result.warc_path)).returncode == 0
    # What arrived before the limit is kept; the request still pending is not.
    uris = {r["uri"] for r in read_records(made(result.warc_path)) if r["type"] == "response"}
    assert site.base + "/hang.html?s=4" in uris
    assert site.base + "/hang" not in uris
    summary = json.loads(made(result.provenance_json_path).read_text())
    assert summary["limit_hit"] == "load_timeout" and summary["limits"]["load_timeout"] == 1.5


def test_capture_timeout_is_reported(pool: BrowserPool, site: SiteServer, tmp_path: Path) -> None:
    options = CaptureOptions(allow_loopback=True, capture_timeout=1.5, load_timeout=20)
    result = capture(site.base + "/hang.html?s=4", tmp_path, options, pool=pool)
    assert result.limit_hit == "capture_timeout"
    assert result.timings["total"] < 15
    summary = json.loads(made(result.provenance_json_path).read_text())
    assert summary["limit_hit"] == "capture_timeout"


def _record_at(warc: bytes, entry: dict[str, str]) -> ArcWarcRecord:
    offset, length = int(entry["offset"]), int(entry["length"])
    return next(iter(ArchiveIterator(io.BytesIO(warc[offset : offset + length]))))


def test_every_served_body_replays_from_the_wacz(
    full_capture: FullCapture, site: SiteServer
) -> None:
    """Look each URL up the way a replay tool does (canonical SURT key in the WACZ
    index, then offset/length into the WARC, following revisits) and compare the
    payload with the bytes the server wrote, chunk framing and gzip included."""
    result, _, _ = full_capture
    with zipfile.ZipFile(made(result.wacz_path)) as archive:
        warc = archive.read("archive/data.warc.gz")
        index = archive.read("indexes/index.cdxj").decode().splitlines()
    lookup: dict[tuple[str, str], dict[str, str]] = {}
    for line in index:
        key, _, data = line.split(" ", 2)
        entry = json.loads(data)
        lookup.setdefault((key, entry["url"]), entry)
    assert {
        "/old",
        "/index.html",
        "/style.css",
        "/bg.png",
        "/img.png",
        "/img-copy.png",
        "/app.js",
        "/data.json",
        "/gzip.txt",
        "/chunked.txt",
        "/missing",
        "/lazy.png",
        "/icon.png",
    } <= set(SERVED)
    for path, body in SERVED.items():
        url = site.base + path
        entry = lookup.get((surt.surt(url), url))
        assert entry is not None, f"{url} is not in the index under its SURT key"
        record = _record_at(warc, entry)
        if record.rec_type == "revisit":
            original = str(record.rec_headers.get_header("WARC-Refers-To-Target-URI"))
            record = _record_at(warc, lookup[(surt.surt(original), original)])
        assert record.rec_type == "response"
        assert record.raw_stream.read() == body, f"{url}: payload differs from what was served"


def test_wacz_passes_wacz_validate(full_capture: FullCapture, tmp_path: Path) -> None:
    result, _, _ = full_capture
    checked = wacz_validate(made(result.wacz_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Validation succeeded" in checked.stdout
    # The validator really reads the files: one changed byte in pages.jsonl fails it.
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(made(result.wacz_path)) as source, zipfile.ZipFile(tampered, "w") as copy:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "pages/pages.jsonl":
                data = data.replace(b"All Pages", b"All Pagez")
            copy.writestr(info, data)
    assert wacz_validate(tampered).returncode != 0


def test_wacz_index_matches_cdxj_indexer(full_capture: FullCapture) -> None:
    """Our hand-written index says what py-wacz's own indexer says about the WARC."""
    result, _, _ = full_capture
    with zipfile.ZipFile(made(result.wacz_path)) as archive:
        ours = archive.read("indexes/index.cdxj").decode().splitlines()
    theirs = subprocess.run(
        [sys.executable, "-m", "cdxj_indexer.main", str(made(result.warc_path))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    def parsed(lines: list[str]) -> set[tuple[str, ...]]:
        rows: set[tuple[str, ...]] = set()
        for line in lines:
            key, stamp, data = line.split(" ", 2)
            entry = json.loads(data)
            rows.add(
                (
                    key,
                    stamp,
                    entry["url"],
                    entry["mime"],
                    entry.get("status", ""),
                    entry["digest"],
                    entry["offset"],
                    entry["length"],
                )
            )
        return rows

    assert len(ours) == len(theirs) > 15
    assert parsed(ours) == parsed(theirs)


def test_pageinfo_metadata_record(full_capture: FullCapture, site: SiteServer) -> None:
    result, _, records = full_capture
    metadata = [r for r in records if r["type"] == "metadata"]
    assert len(metadata) == 1
    record = metadata[0]
    assert record["uri"] == f"urn:pageinfo:{site.base}/old"
    assert record["headers"].get_header("Content-Type") == "application/json"
    first_old = next(
        r for r in records if r["type"] == "response" and r["uri"] == site.base + "/old"
    )
    assert record["headers"].get_header("WARC-Concurrent-To") == first_old["id"]
    info = json.loads(record["raw"])
    assert info["url"] == site.base + "/old" and info["title"] == "Custos test page"
    assert info["finalUrl"] == site.base + "/index.html" and info["status"] == 200
    urls = info["urls"]
    assert urls[site.base + "/old"] == {"status": 302, "mime": "text/plain", "type": "document"}
    assert urls[site.base + "/index.html"] == {
        "status": 200,
        "mime": "text/html",
        "type": "document",
    }
    assert urls[site.base + "/app.js"]["type"] == "script"
    assert urls[site.base + "/style.css"]["type"] == "stylesheet"
    assert urls[site.base + "/lazy.png"]["type"] == "image"
    assert urls[site.base + "/data.json"] == {
        "status": 200,
        "mime": "application/json",
        "type": "fetch",
    }
    assert urls[site.base + "/missing"]["status"] == 404
    # Rendered links, http(s) only, fragments dropped, each once, in page order.
    assert info["outlinks"] == [site.base + "/simple.html", site.base + "/missing"]
    assert result.outlinks == info["outlinks"]
