"""A running ``custos serve`` that may capture loopback pages (the playback test site),
with two capture users and their API keys; Chromium from the console's harness."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import PASSWORD
from tests.playback.site import PlaybackSite
from tests.support.browser import profile_page
from tests.support.service import ServeProcess, serve_env

#: A browser profile that, like a normal (not private) window, lets a frame of another
#: site keep storage: ReplayWeb.page's service worker runs in the playback frame.
PROFILE = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}


@dataclass
class Served:
    """The running server, its users (name -> API key) and the test site."""

    url: str
    home: Path
    keys: dict[str, str]
    site: PlaybackSite

    def capture(self, user: str, path: str, **body: Any) -> str:
        """Capture ``path`` of the test site as ``user`` through Perma's API; its GUID."""
        response = httpx.post(
            f"{self.url}/v1/archives",
            json={"url": f"{self.site.base}{path}", **body},
            headers={"Authorization": f"ApiKey {self.keys[user]}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        guid: str = response.json()["guid"]
        return guid

    def wait(self, user: str, guid: str, timeout: float = 240) -> dict[str, Any]:
        """Poll Perma's capture job until the capture is done; the job."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data: dict[str, Any] = httpx.get(
                f"{self.url}/v1/capture_jobs/{guid}",
                headers={"Authorization": f"ApiKey {self.keys[user]}"},
                timeout=30,
            ).json()
            if data.get("status") in ("completed", "failed"):
                return data
            time.sleep(1)
        pytest.fail(f"capture {guid} not done in {timeout} s")


@pytest.fixture
def profile(tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """``profile()``: a page in a new Chromium profile of its own (own cookies)."""
    from playwright.sync_api import sync_playwright

    pages: list[Any] = []
    with sync_playwright() as pw:

        def make() -> Any:
            page = profile_page(pw, tmp_path / f"profile-{len(pages)}", PROFILE)
            pages.append(page)
            return page

        try:
            yield make
        finally:
            for page in pages:
                page.context.close()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``custos serve`` (one API worker, loopback captures allowed) and the test site.

    On PostgreSQL (``CUSTOS_TEST_DATABASE_URL``) the server uses that database too.
    """
    from custos.accounts import create_api_key, create_user
    from custos.db import make_engine

    site = PlaybackSite().start()
    base = tmp_path_factory.mktemp("pb")
    home = base / "home"
    home.mkdir()
    database = os.environ.get("CUSTOS_TEST_DATABASE_URL") or f"sqlite:///{home / 'custos.db'}"
    env = serve_env(
        home,
        CUSTOS_DATABASE_URL=database,
        CUSTOS_API_WORKERS="1",
        CUSTOS_CAPTURE_ALLOW_LOOPBACK="true",
        CUSTOS_CAPTURE_TIMEOUT="90",
    )
    serve = ServeProcess(env, base / "serve.log")
    try:
        info = serve.ready()
        engine = make_engine(database)
        keys = {}
        for name in ("alice", "bob"):
            user = create_user(f"pb-{name}", role="capture", password=PASSWORD, engine=engine)
            assert user.id is not None
            keys[name] = create_api_key(user.id, engine=engine)
        yield Served(info["api_url"], home, keys, site)
        engine.dispose()
    finally:
        site.stop()
        serve.stop()
