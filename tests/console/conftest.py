"""The console's browser tests: a real ``custos serve`` and Debian's Chromium.

Fixtures (tests of other page groups use them the same way):

- ``console``: one ``custos serve`` subprocess for the test session (its own home,
  free ports, one API worker), with a user per role, each with the password
  ``PASSWORD``: ``admin1``, ``archivist``, ``capture`` and ``auditor``;
  ``console.url``, ``console.home``, ``console.engine`` (its database);
- ``browser``: Chromium, launched once;
- ``signed_in(role)``: a new page signed in as that role's user, through the form;
- ``visit(page, path)``: go to a console page and check it the way every page
  must pass: 200, the CSP header, no serious or critical axe-core violation, no
  horizontal scrolling at 390 px; a screenshot at 1280x800 and at 390 px goes to
  ``tests/screenshots/`` (ignored by git), named after the test and the page.

The browser helpers are ``tests.support.browser``'s, the server ``tests.support.service``'s.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support import browser as chromium
from tests.support.browser import check_page, new_page
from tests.support.service import ServeProcess, serve_env

PASSWORD = "console-test-password"
ROLES = {"admin": "admin1", "archivist": "archivist", "capture": "capture", "auditor": "auditor"}

__all__ = ["PASSWORD", "ROLES", "Console", "check_page", "new_page", "sign_in"]


@dataclass
class Console:
    """The running ``custos serve`` the browser tests talk to."""

    url: str
    home: Path
    engine: Engine
    serve: ServeProcess

    def username(self, role: str) -> str:
        return ROLES[role]

    def api_log(self, lines: int = 40) -> str:
        """The end of the API's log (for a failure's message)."""
        path = self.home / "logs" / "api.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def console() -> Iterator[Console]:
    """``custos serve`` on a fresh home, with one user per role."""
    from custos.accounts import create_user
    from custos.db import make_engine

    # a short path: clamd's socket lives in the home (Unix socket paths: 107 bytes)
    base = Path(tempfile.mkdtemp(prefix="con-"))
    home = base / "home"
    home.mkdir()
    env = serve_env(
        home,
        CUSTOS_API_WORKERS="1",
        # the capture tests capture the local test site (tests/capture/site.py)
        CUSTOS_CAPTURE_ALLOW_LOOPBACK="true",
        CUSTOS_CAPTURE_TIMEOUT="90",
    )
    serve = ServeProcess(env, base / "serve.log")
    try:
        info = serve.ready()
        engine = make_engine(f"sqlite:///{home / 'custos.db'}")
        for role, name in ROLES.items():
            create_user(name, role=role, password=PASSWORD, engine=engine)
        yield Console(info["api_url"], home, engine, serve)
        engine.dispose()
    finally:
        serve.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, for the console's tests: stopped after them,
    since a live sync Playwright makes asyncio (and so Prefect's sync/async dispatch)
    see a running event loop in every later test of the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = chromium.launch(pw)
        yield launched
        launched.close()


def sign_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form (as a console test user, by default)."""
    chromium.sign_in(page, url, username, password)


@pytest.fixture
def signed_in(console: Console, browser: Any) -> Iterator[Callable[[str], Any]]:
    """``signed_in(role)``: a page signed in as the user of ``role``."""
    pages: list[Any] = []

    def make(role: str) -> Any:
        page = new_page(browser)
        pages.append(page)
        sign_in(page, console.url, ROLES[role])
        assert "/signin" not in page.url, page.content()[:2000]
        return page

    yield make
    for page in pages:
        page.context.close()


@pytest.fixture
def visit(console: Console, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``visit(page, path, label=None)``: open a console page and check it (see module doc)."""

    def go(page: Any, path: str, label: str | None = None) -> Any:
        response = page.goto(f"{console.url}{path}")
        assert response is not None and response.status == 200, (path, response and response.status)
        csp = response.headers.get("content-security-policy", "")
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        check_page(page, request, label or path)
        return response

    return go
