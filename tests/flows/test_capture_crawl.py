"""ArchiveBox ``depth``: a crawl captures its page and the same-site pages it links to,
each its own snapshot of the same crawl, bounded by ``crawl_max_pages``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from custos.accounts import create_api_key, create_user
from custos.crawls import same_site_links
from custos.db import session_scope
from custos.models import Capture
from custos.settings import get_settings
from tests.capture.site import SiteServer


def test_same_site_links_keep_the_host_and_drop_fragments() -> None:
    links = [
        "http://www.example.org/a#x",
        "https://example.org/a",
        "http://example.org/a",
        "http://other.example/b",
        "mailto:nobody@example.org",
        "http://sub.example.org/c",
    ]
    assert same_site_links("http://example.org/", links) == [
        "http://www.example.org/a",
        "https://example.org/a",
        "http://example.org/a",
    ]


@pytest.fixture
def two_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CUSTOS_CRAWL_MAX_PAGES", "2")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_depth_one_captures_the_linked_pages_of_the_same_site(
    site: SiteServer, live_captures: None, two_pages: None
) -> None:
    from api.app import create_app
    from custos import dispatch

    user = create_user("crawler", role="admin", password="s3cret-pass")
    assert user.id is not None
    h = {"X-ArchiveBox-API-Key": create_api_key(user.id)}
    start = f"{site.base}/index.html"
    with TestClient(create_app()) as client:
        added = client.post("/api/v1/cli/add", headers=h, json={"urls": [start], "depth": 1})
        assert added.status_code == 200, added.text
        crawl_id = added.json()["result"]["crawl_id"]
        assert dispatch.inline_backend().wait_all(timeout=300)
        # the children were queued by the first capture's run: wait for them too
        assert dispatch.inline_backend().wait_all(timeout=300)
        crawl = client.get(f"/api/v1/crawls/crawl/{crawl_id}?with_snapshots=true", headers=h).json()
        urls = [s["url"] for s in crawl["snapshots"]]
        # index links to /simple.html (twice) and /missing; the limit is 2 pages.
        assert urls == [start, f"{site.base}/simple.html"], urls
        assert {s["status"] for s in crawl["snapshots"]} == {"succeeded"}
        assert crawl["max_depth"] == 1 and crawl["max_urls"] == 2
        assert crawl["status"] == "sealed"
        # The orchestrator reports the queue as the database holds it (other tests'
        # captures included), and nothing of this crawl is in it any more.
        orchestrator = client.get("/api/v1/workers/orchestrator", headers=h).json()
        with session_scope() as s:
            statuses = list(s.exec(select(Capture.status)).all())
        assert orchestrator["queued_snapshots"] == statuses.count("queued")
        assert orchestrator["running_snapshots"] == statuses.count("started")
        assert orchestrator["is_running"] is (statuses.count("started") > 0)
