"""The console's record page ``/<GUID>`` and its views, without a browser: who sees
what, in-progress and failed captures, the views' headers, ArchiveBox's address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from custos.captures import create_capture
from custos.db import session_scope
from custos.models import (
    ArchiveResult,
    Capture,
    CaptureJob,
    CaptureJobStatus,
    CaptureStatus,
    ResultStatus,
    User,
)
from custos.playback import check_token
from tests.playback.stored import stored_capture, user

CONSOLE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def app(custos_home: Path) -> object:
    from api.app import create_app

    return create_app()


@pytest.fixture
def tc(app: object) -> Iterator[TestClient]:
    with TestClient(app, base_url=CONSOLE) as client:  # type: ignore[arg-type]
        yield client


def signed_in(client: TestClient, who: User) -> TestClient:
    from web.security import SESSION_COOKIE, make_session

    assert who.id is not None
    _, value = make_session(who.id, who.password_hash)
    client.cookies.set(SESSION_COOKIE, value)
    return client


def _screenshot(capture: Capture) -> None:
    folder = Path(capture.directory or "")
    (folder / "screenshot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    with session_scope() as s:
        s.add(
            ArchiveResult(
                capture_uuid=capture.uuid,
                extractor="screenshot",
                status=ResultStatus.SUCCEEDED,
                output="screenshot.png",
            )
        )


def test_public_record_for_anyone_with_banner_frame_and_views(tc: TestClient) -> None:
    owner, _ = user()
    capture = stored_capture(owner, "http://record.test/page", "Visible words.", title="Rec")
    _screenshot(capture)
    page = tc.get(f"/{capture.guid.lower()}")  # any case, as Perma
    assert page.status_code == 200, page.text
    assert "http://record.test/page" in page.text and " UTC" in page.text
    assert "none (a personal link)" in page.text and owner.username in page.text
    csp = page.headers["content-security-policy"]
    assert "frame-src http://localhost:8000" in csp and "script-src 'self';" in csp
    src = page.text.split('class="replay" src="')[1].split('"')[0]
    assert src.startswith("http://localhost:8000/embed/")
    assert check_token(src.rsplit("/", 1)[1]) == capture.guid
    assert 'sandbox="allow-scripts allow-same-origin allow-forms allow-downloads"' in page.text
    for view in ("screenshot", "dom", "resources", "warc"):
        assert f'href="/{capture.guid}/{view}"' in page.text, view
    assert f'href="/{capture.guid}/pdf"' not in page.text  # no PDF was made

    shot = tc.get(f"/{capture.guid}/screenshot")
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    assert shot.headers["content-security-policy"].startswith("sandbox")
    warc = tc.get(f"/{capture.guid}/warc")
    assert warc.content == Path(capture.warc_path or "").read_bytes()
    assert "attachment" in warc.headers["content-disposition"]
    assert tc.get(f"/{capture.guid}/wacz").status_code == 404  # none made
    assert tc.get(f"/{capture.guid}/pdf").status_code == 404

    dom = tc.get(f"/{capture.guid}/dom")
    assert dom.status_code == 200 and "Visible words." in dom.text
    assert "&lt;script&gt;" in dom.text and "<script>var hidden" not in dom.text  # as text
    listed = tc.get(f"/{capture.guid}/resources")
    assert listed.status_code == 200
    assert "http://record.test/page/gone" in listed.text and ">404<" in listed.text

    box = tc.get(f"/archive/{capture.timestamp}/", follow_redirects=False)
    assert box.status_code == 302 and box.headers["location"] == f"/{capture.guid}"
    assert tc.get("/archive/1.5/index.html", follow_redirects=False).status_code == 404


def test_private_record_only_for_those_who_may_see_it(app: object) -> None:
    owner, _ = user()
    stranger, _ = user()
    capture = stored_capture(owner, "http://record.test/private", "secret", private=True)
    paths = [
        f"/{capture.guid}",
        f"/{capture.guid}/dom",
        f"/{capture.guid}/warc",
        f"/{capture.guid}/resources",
        f"/archive/{capture.timestamp}/",
    ]
    with TestClient(app, base_url=CONSOLE) as anonymous:  # type: ignore[arg-type]
        for path in paths:
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 404, path
            assert "record.test" not in response.text
    with TestClient(app, base_url=CONSOLE) as client:  # type: ignore[arg-type]
        signed_in(client, stranger)
        for path in paths:
            assert client.get(path, follow_redirects=False).status_code == 404, path
    with TestClient(app, base_url=CONSOLE) as client:  # type: ignore[arg-type]
        signed_in(client, owner)
        page = client.get(f"/{capture.guid}")
        assert page.status_code == 200 and "private" in page.text
        assert 'class="replay"' in page.text


def test_in_progress_refreshes_and_failed_says_why(tc: TestClient) -> None:
    owner, _ = user()
    running = create_capture("http://record.test/slow", owner, submit=False)
    page = tc.get(f"/{running.guid}")
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="3">' in page.text
    assert "queued" in page.text and 'class="replay"' not in page.text

    failed = create_capture("http://record.test/broken", owner, submit=False)
    with session_scope() as s:
        row = s.get(Capture, failed.uuid)
        assert row is not None
        row.status = CaptureStatus.FAILED
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == failed.uuid)).one()
        job.status = CaptureJobStatus.FAILED
        job.message = json.dumps({"error": ["Failed during capture: net::ERR_NAME_NOT_RESOLVED"]})
    page = tc.get(f"/{failed.guid}")
    assert page.status_code == 200
    assert "This capture failed: Failed during capture: net::ERR_NAME_NOT_RESOLVED" in page.text
    assert "refresh" not in page.text and 'class="replay"' not in page.text


def test_named_console_pages_are_not_taken_for_guids(tc: TestClient) -> None:
    assert tc.get("/signin").status_code == 200
    assert tc.get("/ABCD-2345").status_code == 404  # GUID-shaped, no such capture
