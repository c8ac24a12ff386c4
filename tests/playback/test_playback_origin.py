"""The playback origin: what it serves, to whom, and what it never serves (no browser).

The console and the API answer on the console's host name; the playback origin's
host name (``localhost`` beside ``127.0.0.1`` by default) reaches only ReplayWeb.page,
the embed page and the archives a valid token names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from custos.capture_contents import resources, visible_text
from custos.db import session_scope
from custos.errors import ConfigError, NotFound
from custos.models import ArchiveResult, Capture, ResultStatus
from custos.playback import check_token, issue_token, may_play, playback_origin
from custos.settings import load_settings
from tests.playback.stored import stored_capture, user

PLAYBACK = "http://localhost"
CONSOLE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def app(custos_home: Path) -> Iterator[object]:
    from api.app import create_app

    yield create_app()


@pytest.fixture
def play(app: object) -> Iterator[TestClient]:
    with TestClient(app, base_url=PLAYBACK) as client:  # type: ignore[arg-type]
        yield client


@pytest.fixture
def console(app: object) -> Iterator[TestClient]:
    with TestClient(app, base_url=CONSOLE) as client:  # type: ignore[arg-type]
        yield client


def test_default_origin_is_the_other_loopback_name() -> None:
    assert playback_origin(load_settings(host="127.0.0.1", port=8123)) == "http://localhost:8123"
    assert playback_origin(load_settings(host="localhost", port=80)) == "http://127.0.0.1:80"
    configured = load_settings(host="10.0.0.5", playback_origin="https://play.example.org/")
    assert playback_origin(configured) == "https://play.example.org"
    with pytest.raises(ConfigError, match="CUSTOS_PLAYBACK_ORIGIN"):
        playback_origin(load_settings(host="10.0.0.5"))
    with pytest.raises(ConfigError, match="PLAYBACK_ORIGIN"):
        load_settings(playback_origin="play.example.org/path")


def test_token_names_one_capture_until_it_expires() -> None:
    token = issue_token("abcd2345", ttl=60)
    assert check_token(token) == "ABCD-2345"
    guid, expires, signature = token.split(".")
    for bad in (
        f"ABCD-2346.{expires}.{signature}",  # another capture
        f"{guid}.{int(expires) + 3600}.{signature}",  # a longer life
        f"{guid}.{expires}.{signature[:-2]}xx",
        "garbage",
        "",
    ):
        with pytest.raises(NotFound):
            check_token(bad)
    with pytest.raises(NotFound):
        check_token(token, now=time.time() + 61)


def test_playback_host_serves_replay_assets_and_nothing_of_the_console(
    play: TestClient, console: TestClient
) -> None:
    sw = play.get("/replay/sw.js")
    assert sw.status_code == 200 and sw.headers["service-worker-allowed"] == "/replay/"
    assert "javascript" in sw.headers["content-type"] and len(sw.content) > 100_000
    assert play.get("/replay/ui.js").status_code == 200
    waiting = play.get("/replay/?source=x")  # before the service worker controls the frame
    assert waiting.status_code == 200 and "serviceWorker.ready" in waiting.text
    assert play.get("/replay/../../package.json").status_code == 404
    _, key = user("admin")
    auth = {"Authorization": f"Bearer {key}", "Cookie": "custos_session=anything"}
    for path in (
        "/custos/health",
        "/custos/units",
        "/api/transfer/completed",
        "/v1/user",
        "/api/v1/core/snapshots",
        "/docs",
        "/openapi.json",
        "/",
    ):
        assert play.get(path, headers=auth).status_code == 404, path
    assert play.post("/v1/archives", json={"url": "http://x.test"}, headers=auth).status_code == 404
    # ... and the console's host serves none of the playback routes
    assert console.get("/custos/health").status_code == 200
    for path in (
        "/replay/",
        "/replay/sw.js",
        "/replay/ui.js",
        f"/embed/{issue_token('ABCD-2345')}",
    ):
        assert console.get(path).status_code == 404, path


def test_embed_and_archive_need_a_valid_token(play: TestClient, console: TestClient) -> None:
    owner, _ = user()
    capture = stored_capture(owner, "http://example.test/page", "ordinary words")
    token = issue_token(capture.guid)
    page = play.get(f"/embed/{token}")
    assert page.status_code == 200
    assert "frame-ancestors" not in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert f'source="/archive/{token}/{capture.guid}.warc.gz"' in page.text
    assert 'url="http://example.test/page"' in page.text and 'replaybase="/replay/"' in page.text
    # the replay frame is created only once the service worker is registered, with the
    # script URL and scope ReplayWeb.page registers (another URL would replace it)
    register = page.text.index('serviceWorker.register(\n      "/replay/sw.js?serveIndex=1"')
    assert register < page.text.index("appendChild") and "<template" in page.text
    assert "https://" not in page.text  # nothing from another host

    warc = Path(capture.warc_path or "").read_bytes()
    whole = play.get(f"/archive/{token}/{capture.guid}.warc.gz")
    assert whole.status_code == 200 and whole.content == warc
    part = play.get(f"/archive/{token}/{capture.guid}.warc.gz", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == warc[:10]

    other = stored_capture(owner, "http://example.test/other", "other words")
    assert play.get(f"/archive/{token}/{other.guid}.warc.gz").status_code == 404
    assert play.get(f"/archive/{issue_token(other.guid)}/{capture.guid}.warc.gz").status_code == 404
    assert play.get(f"/embed/{token[:-3]}abc").status_code == 404
    assert console.get(f"/archive/{token}/{capture.guid}.warc.gz").status_code == 404

    with session_scope() as s:
        row = s.get(Capture, capture.uuid)
        assert row is not None
        row.user_deleted = True
    assert play.get(f"/embed/{token}").status_code == 404
    assert play.get(f"/archive/{token}/{capture.guid}.warc.gz").status_code == 404


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _with_pdf(capture: Capture) -> None:
    (Path(capture.directory or "") / "pdf-snapshot.pdf").write_bytes(PDF)
    with session_scope() as s:
        s.add(
            ArchiveResult(
                capture_uuid=capture.uuid,
                extractor="pdf",
                status=ResultStatus.SUCCEEDED,
                output="pdf-snapshot.pdf",
            )
        )


def test_pdf_is_viewed_inline_from_the_playback_origin_only(
    play: TestClient, console: TestClient
) -> None:
    owner, _ = user()
    capture = stored_capture(owner, "http://example.test/printed", "printed words")
    _with_pdf(capture)
    record = console.get(f"/{capture.guid}")
    assert record.status_code == 200
    view = re.search(r'href="(http://localhost[^"]+)" id="pdf-view"', record.text)
    assert view is not None, record.text
    address = urlsplit(view.group(1))
    assert address.path.endswith(f"/{capture.guid}.pdf")
    shown = play.get(address.path)
    assert shown.status_code == 200 and shown.content == PDF
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in shown.headers

    # the console's origin never shows it: a download under a sandboxing CSP
    download = console.get(f"/{capture.guid}/pdf")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["content-security-policy"].startswith("sandbox")
    assert console.get(address.path).status_code == 404

    token = address.path.split("/")[2]
    other = stored_capture(owner, "http://example.test/unprinted", "no pdf")
    assert play.get(f"/pdf/{token}/{other.guid}.pdf").status_code == 404  # not its token
    assert play.get(f"/pdf/{issue_token(other.guid)}/{other.guid}.pdf").status_code == 404
    assert play.get(f"/pdf/{token}/{capture.guid}.html").status_code == 404
    assert 'id="pdf-view"' not in console.get(f"/{other.guid}").text
    with session_scope() as s:
        row = s.get(Capture, capture.uuid)
        assert row is not None
        row.user_deleted = True
    assert play.get(address.path).status_code == 404


def test_who_may_play() -> None:
    owner, _ = user()
    stranger, _ = user()
    admin, _ = user("admin")
    public = stored_capture(owner, "http://example.test/public", "x", index=False)
    private = stored_capture(owner, "http://example.test/private", "x", private=True, index=False)
    with session_scope() as s:
        assert may_play(s, None, public) and may_play(s, stranger, public)
        assert may_play(s, owner, private) and may_play(s, admin, private)
        assert not may_play(s, None, private) and not may_play(s, stranger, private)


def test_resources_of_the_warc() -> None:
    owner, _ = user()
    capture = stored_capture(owner, "http://example.test/list", "listed", index=False)
    rows = resources(capture)
    assert [(r.url, r.status, r.mime, r.record_type) for r in rows] == [
        ("http://example.test/list", 200, "text/html", "response"),
        ("http://example.test/list/pic.png", 200, "image/png", "response"),
        ("http://example.test/list/gone", 404, "text/plain", "response"),
        ("file:///screenshot.png", None, "image/png", "resource"),
    ]
    assert rows[1].size == 100 and rows[2].size == 4 and rows[3].size == 14


def test_visible_text_leaves_out_scripts_styles_and_head() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<h1>Head&amp;line</h1><script>var secret = 1;</script><p>one  two</p>"
        "<noscript>enable js</noscript><div>three<br>four</div></body></html>"
    )
    assert visible_text(html) == "Head&line\none two\nthree\nfour"
