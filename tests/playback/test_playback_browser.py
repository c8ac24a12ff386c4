"""Playback in Chromium against a running ``custos serve``: a captured page replays
inside the record page's frame; a captured script cannot reach the console; private
captures stay private; search finds a capture by a word of its page text.

The record page is ``/<GUID>`` on the console's origin (``127.0.0.1``); the frame
comes from the playback origin (``localhost``, the same server).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import sign_in
from tests.playback.conftest import Served
from tests.playback.site import FETCHED_WORD, PAGE_WORD
from tests.support.browser import check_page

pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
#: The replay as a reader sees it (git ignores the folder, so a test run never changes a
#: tracked file); with CUSTOS_UPDATE_DOC_IMAGES=1 it also replaces the docs' image.
DOC_SCREENSHOT = REPO / "tests" / "screenshots" / "playback.png"
DOC_IMAGE = REPO / "docs" / "images" / "playback.png"


def replay_frame(page: Any, needle: str, timeout: float = 120) -> Any:
    """The frame of the archived page once its body shows ``needle``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "mp_/" not in frame.url:
                continue
            try:
                text = frame.evaluate("document.body ? document.body.innerText : ''")
            except Exception:
                continue
            if needle in text:
                return frame
        page.wait_for_timeout(500)  # (sync Playwright sees new frames only while waiting in it)
    urls = [f.url for f in page.frames]
    pytest.fail(f"no replay frame showed {needle!r} in {timeout} s; frames: {urls}")


def wait_until(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    return check()


def test_capture_replays_with_fetched_text_and_late_image(
    served: Served, profile: Callable[[], Any], request: pytest.FixtureRequest
) -> None:
    guid = served.capture("alice", "/dynamic.html", wacz=True)
    record = served.wait("alice", guid)
    assert record["status"] == "completed", record

    page = profile()
    response = page.goto(f"{served.url}/{guid}")  # anonymous: the capture is public
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "frame-src http://localhost:" in csp and "script-src 'self';" in csp
    banner = page.inner_text("header.banner")
    assert f"{served.site.base}/dynamic.html" in banner and "UTC" in banner
    assert "Succeeded" in banner and "none (a personal link)" in banner
    assert wait_until(lambda: page.inner_text("#local-time"))  # the viewer's time
    frame_el = page.locator("iframe.replay")
    assert frame_el.get_attribute("src", timeout=5000).startswith("http://localhost:")
    sandbox = frame_el.get_attribute("sandbox") or ""
    assert "allow-top-navigation" not in sandbox and "allow-popups" not in sandbox

    frame = replay_frame(page, f"fetched: {FETCHED_WORD}")
    assert frame.url.startswith("http://localhost:")
    width = wait_until(
        lambda: frame.evaluate(
            "(() => { const i = document.getElementById('late-img');"
            " return i && i.complete ? i.naturalWidth : 0; })()"
        )
    )
    assert width == 64, "the image inserted after load did not replay"
    DOC_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SCREENSHOT))
    if os.environ.get("CUSTOS_UPDATE_DOC_IMAGES") == "1":
        shutil.copyfile(DOC_SCREENSHOT, DOC_IMAGE)

    # every console page passes the console's checks (axe-core, 390 px wide)
    check_page(page, request, "record")
    for view in ("dom", "resources"):
        response = page.goto(f"{served.url}/{guid}/{view}")
        assert response is not None and response.status == 200
        check_page(page, request, view)
    assert "late.png" in page.inner_text("table")  # the resources: the late image too
    page.goto(f"{served.url}/{guid}/dom")
    assert f"fetched: {FETCHED_WORD}" in page.inner_text(".page-text")  # the DOM as text


def test_captured_script_cannot_reach_the_console(
    served: Served, profile: Callable[[], Any]
) -> None:
    guid = served.capture("alice", f"/hostile.html?console={served.url}", wacz=True)
    assert served.wait("alice", guid)["status"] == "completed"

    page = profile()
    logs: list[str] = []
    page.on("console", lambda message: logs.append(message.text))
    sign_in(page, served.url, "pb-alice")
    cookies = {c["name"]: c for c in page.context.cookies(served.url)}
    assert "custos_session" in cookies  # signed in to the console
    session = cookies["custos_session"]["value"]
    record_url = f"{served.url}/{guid}"
    page.goto(record_url)

    # the captured script, as replayed: its report, then its try at the top window
    line = wait_until(
        lambda: (
            page.wait_for_timeout(300)
            or next((m for m in logs if m.startswith("HOSTILE-REPORT ")), None)
        ),
        timeout=90,
    )
    assert line, logs
    report = json.loads(line.removeprefix("HOSTILE-REPORT "))
    assert session not in report["cookie"] and "custos_session" not in report["cookie"]
    assert len(report["calls"]) == 4
    for call, answer in report["calls"].items():
        assert not answer.startswith("200"), (call, answer)
        assert '"units"' not in answer and '"results"' not in answer, (call, answer)
    page.wait_for_timeout(3000)  # give a navigation of the top window time to happen
    assert page.url == record_url
    assert page.locator("header.banner").is_visible()

    # a script that got past the replay's own rewriting runs in the playback frame:
    # another site, sandboxed without top navigation
    embed = next(f for f in page.frames if "/embed/" in f.url)
    assert embed.url.startswith("http://localhost:")
    assert "custos_session" not in embed.evaluate("document.cookie")
    fetched = embed.evaluate(
        """async (url) => {
             try { const r = await fetch(url, {credentials: 'include'});
                   return r.status + ' ' + (await r.text()).slice(0, 100); }
             catch (e) { return 'error ' + e.name; } }""",
        f"{served.url}/custos/units",
    )
    assert fetched.startswith("error"), fetched  # no CORS for another origin: unreadable
    embed.evaluate(
        "(url) => { try { window.top.location.href = url; } catch (e) { return e.name; } }",
        f"{served.url}/hijacked",
    )
    page.wait_for_timeout(2000)
    assert page.url == record_url


def test_private_capture_plays_for_its_owner_only(
    served: Served, profile: Callable[[], Any]
) -> None:
    guid = served.capture("alice", "/dynamic.html", is_private=True, wacz=True)
    assert served.wait("alice", guid)["status"] == "completed"
    assert httpx.get(f"{served.url}/{guid}").status_code == 404  # anonymous

    bob, alice = profile(), profile()
    sign_in(bob, served.url, "pb-bob")
    response = bob.goto(f"{served.url}/{guid}")
    assert response is not None and response.status == 404
    assert bob.locator("iframe.replay").count() == 0

    sign_in(alice, served.url, "pb-alice")
    response = alice.goto(f"{served.url}/{guid}")
    assert response is not None and response.status == 200
    assert "private" in alice.inner_text("header.banner")
    replay_frame(alice, f"fetched: {FETCHED_WORD}")


def test_search_finds_a_capture_by_its_page_text(
    served: Served, profile: Callable[[], Any], request: pytest.FixtureRequest
) -> None:
    guid = served.capture("alice", "/dynamic.html")
    assert served.wait("alice", guid)["status"] == "completed"

    # the console's Captures list: its search box, a stable address, paged on the server
    page = profile()
    sign_in(page, served.url, "pb-alice")
    page.goto(f"{served.url}/captures")
    page.fill("#q", PAGE_WORD)
    page.locator("form[role=search] button").click()
    page.wait_for_url(f"**/captures?q={PAGE_WORD}")
    assert guid in page.inner_text("#capture-list")
    check_page(page, request, "captures-search")
    page.goto(f"{served.url}/captures?q=absentword")
    assert guid not in page.inner_text("#capture-list")
    assert "0 captures" in page.inner_text("main")
    perma = {"Authorization": f"ApiKey {served.keys['alice']}"}
    found = httpx.get(f"{served.url}/v1/archives", params={"q": PAGE_WORD}, headers=perma)
    assert guid in [o["guid"] for o in found.json()["objects"]]
    nothing = httpx.get(f"{served.url}/v1/archives", params={"q": "absentword"}, headers=perma)
    assert nothing.json()["objects"] == []
    box = {"X-ArchiveBox-API-Key": served.keys["alice"]}
    cli = httpx.post(
        f"{served.url}/api/v1/cli/search",
        json={"filter_type": "search", "filter_patterns": [PAGE_WORD]},
        headers=box,
    )
    assert cli.status_code == 200, cli.text
    urls = {s["url"] for s in cli.json()["result"]}
    assert urls == {f"{served.site.base}/dynamic.html"}  # not the hostile page


def test_pdf_opens_inline_from_the_playback_origin(
    served: Served, profile: Callable[[], Any]
) -> None:
    guid = served.capture("alice", "/dynamic.html", pdf=True)
    assert served.wait("alice", guid)["status"] == "completed"

    page = profile()
    seen: list[Any] = []
    page.context.on("response", lambda response: seen.append(response))
    page.goto(f"{served.url}/{guid}")
    link = page.locator("#pdf-view")
    assert link.get_attribute("href").startswith("http://localhost:")
    assert link.get_attribute("target") == "_blank"
    with page.context.expect_page() as opened:
        link.click()
    opened.value.wait_for_timeout(1000)
    pdf = wait_until(lambda: next((r for r in seen if r.url.endswith(f"/{guid}.pdf")), None))
    assert pdf is not None, [r.url for r in seen]
    assert pdf.url.startswith("http://localhost:") and pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    assert opened.value.url == pdf.url  # opened in its own tab, in Chromium's PDF viewer
    assert httpx.get(pdf.url).content.startswith(b"%PDF")
    assert page.url == f"{served.url}/{guid}"  # the record page stays as it was
    download = httpx.get(f"{served.url}/{guid}/pdf")  # on the console's origin: a download
    assert download.headers["content-disposition"].startswith("attachment")


def test_in_progress_capture_refreshes_until_it_plays_and_failed_says_why(
    served: Served, profile: Callable[[], Any]
) -> None:
    guid = served.capture("alice", "/slow.html", wacz=True)
    page = profile()
    page.goto(f"{served.url}/{guid}")  # while the page is still being loaded
    status = page.locator("p[role=status]").inner_text()
    assert "This page refreshes until it is done" in status, status
    assert page.locator("iframe.replay").count() == 0
    # the page reloads itself (every 3 s) until the capture is done, then replays it
    page.wait_for_selector("iframe.replay", timeout=240_000)
    assert page.url == f"{served.url}/{guid}"
    assert "Succeeded" in page.inner_text("header.banner")
    assert page.locator("p[role=status]").count() == 0  # no longer refreshing

    # a link-local address (a cloud's metadata service): refused while capturing
    response = httpx.post(
        f"{served.url}/v1/archives",
        json={"url": "http://169.254.169.254/latest/meta-data/"},
        headers={"Authorization": f"ApiKey {served.keys['alice']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    failed = response.json()["guid"]
    assert served.wait("alice", failed)["status"] == "failed"
    page.goto(f"{served.url}/{failed}")
    reason = page.locator("p[role=alert]").inner_text()
    assert reason.startswith("This capture failed: ") and "no reason" not in reason, reason
    assert "target refused: 169.254.0.0/16" in reason, reason  # the rule it matched
    assert page.locator("iframe.replay").count() == 0
    assert "Failed" in page.inner_text("header.banner")
