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
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from custos.runtime.preflight import free_port
from custos.settings import load_settings

PASSWORD = "console-test-password"
ROLES = {"admin": "admin1", "archivist": "archivist", "capture": "capture", "auditor": "auditor"}
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "tests" / "screenshots"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


@dataclass
class Console:
    """The running ``custos serve`` the browser tests talk to."""

    url: str
    home: Path
    engine: Engine
    proc: subprocess.Popen[bytes]
    log: Path

    def username(self, role: str) -> str:
        return ROLES[role]

    def api_log(self, lines: int = 40) -> str:
        """The end of the API's log (for a failure's message)."""
        path = self.home / "logs" / "api.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> dict[str, Any]:
    assert proc.stdout is not None
    text = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited {proc.returncode}: {log.read_text()[-3000:]}")
        if select.select([proc.stdout], [], [], 0.5)[0]:
            text += os.read(proc.stdout.fileno(), 65536).decode()
            try:
                info: dict[str, Any] = json.loads(text)
                return info
            except ValueError:
                continue
    pytest.fail(f"serve not ready in {timeout} s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def console() -> Iterator[Console]:
    """``custos serve`` on a fresh home, with one user per role."""
    from custos.accounts import create_user
    from custos.db import make_engine

    # a short path: clamd's socket lives in the home (Unix socket paths: 107 bytes)
    base = Path(tempfile.mkdtemp(prefix="con-"))
    home = base / "home"
    home.mkdir()
    env = dict(os.environ)
    for name in ("CUSTOS_DATABASE_URL", "PREFECT_API_URL", "CUSTOS_DISPATCH"):
        env.pop(name, None)
    env.update(
        CUSTOS_HOME=str(home),
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
        CUSTOS_API_WORKERS="1",
        # the capture tests capture the local test site (tests/capture/site.py)
        CUSTOS_CAPTURE_ALLOW_LOOPBACK="true",
        CUSTOS_CAPTURE_TIMEOUT="90",
    )
    log = base / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),
        start_new_session=True,
        cwd=REPO,
    )
    try:
        info = _ready(proc, log)
        engine = make_engine(f"sqlite:///{home / 'custos.db'}")
        for role, name in ROLES.items():
            create_user(name, role=role, password=PASSWORD, engine=engine)
        yield Console(info["api_url"], home, engine, proc, log)
        engine.dispose()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, for the console's tests: stopped after them,
    since a live sync Playwright makes asyncio (and so Prefect's sync/async dispatch)
    see a running event loop in every later test of the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=load_settings().chromium_executable(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def new_page(browser: Any) -> Any:
    """A page in a fresh context (own cookies) at 1280x800, with axe-core loaded.

    axe-core is added as an init script (the devtools protocol injects it, so the
    console's CSP, which forbids inline scripts, stays in force for the page).
    """
    context = browser.new_context(viewport=WIDE)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def sign_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form."""
    page.goto(f"{url}/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(?!signin).*"))


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


SERIOUS = ("serious", "critical")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now."""
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in SERIOUS]


def _describe(violations: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in violations
    )


def screenshot_name(request: pytest.FixtureRequest, label: str) -> str:
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")
    return f"{test}--{re.sub(r'[^A-Za-z0-9]+', '-', label).strip('-') or 'home'}"


def check_page(page: Any, request: pytest.FixtureRequest, label: str) -> None:
    """axe-core, the narrow layout, and the two screenshots of the page as it is now."""
    page.wait_for_load_state("load")
    violations = axe_violations(page)
    assert not violations, f"{page.url}: {_describe(violations)}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = screenshot_name(request, label)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(NARROW)
    try:
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{page.url} scrolls sideways by {overflow}px at 390 px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}--390.png"), full_page=True)
    finally:
        page.set_viewport_size(WIDE)


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
