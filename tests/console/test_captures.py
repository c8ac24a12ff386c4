"""Captures in the browser: submit a URL, see its screenshot as a thumbnail, open its
record with its downloads and playback link."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.capture.site import SiteServer
from tests.console.conftest import Console


@pytest.fixture(scope="module")
def site_server() -> Iterator[SiteServer]:
    server = SiteServer("127.0.0.1").start()
    yield server
    server.stop()


def test_submit_a_capture_and_see_its_thumbnail(
    signed_in: Callable[[str], Any],
    visit: Callable[..., Any],
    console: Console,
    site_server: SiteServer,
) -> None:
    page = signed_in("capture")
    visit(page, "/captures", "captures")
    url = f"{site_server.base}/simple.html"
    page.get_by_label("URLs, one a line").fill(f"{url}\nnot a url")
    page.get_by_role("button", name="Capture").click()
    # one refused line, one capture started: the refused URL stays in the box
    assert "1 URL(s) refused; 1 capture(s) started." in page.get_by_role("alert").inner_text()
    assert page.get_by_label("URLs, one a line").input_value() == "not a url"

    thumb = page.locator("#capture-list img")
    deadline = time.monotonic() + 180
    while thumb.count() == 0 and time.monotonic() < deadline:
        time.sleep(2)
        page.goto(f"{console.url}/captures")
    assert thumb.count() >= 1, page.locator("#capture-list").inner_text()
    loaded = thumb.first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert loaded, "the thumbnail did not load"
    visit(page, "/captures", "captures-with-thumbnail")

    page.locator("#capture-list a").first.click()
    page.wait_for_url("**/captures/*")
    guid = page.url.rsplit("/", 1)[1]
    visit(page, f"/captures/{guid}", "capture-record")
    assert page.locator("#playback").get_attribute("href") == f"/{guid}"
    assert url in page.get_by_role("region", name="Provenance").inner_text()
    for name in ("WARC", "Screenshot"):
        assert page.get_by_role("link", name=name, exact=True).count() == 1
    with page.expect_download() as info:
        page.get_by_role("link", name="WARC", exact=True).click()
    path = info.value.path()
    assert path is not None and path.stat().st_size > 100


def test_archivist_has_no_captures_and_other_users_captures_are_hidden(
    signed_in: Callable[[str], Any], console: Console
) -> None:
    page = signed_in("archivist")
    response = page.goto(f"{console.url}/captures")
    assert response is not None and response.status == 403
    response = page.goto(f"{console.url}/captures/ABCD-1234/file/warc")
    assert response is not None and response.status == 403
