"""Debian's Chromium under Playwright for the browser tests (console, playback).

- ``launch(pw)``: Chromium launched once for many pages;
- ``new_page(browser)``: a page in a fresh context (own cookies) at 1280x800;
- ``profile_page(pw, folder, preferences)``: a page in a Chromium profile of its own
  (a persistent context, with the profile's ``Preferences``);
- ``sign_in(page, url, username, password)``: through the console's form;
- ``check_page(page, request, label)``: how every console page must pass: no serious
  or critical axe-core violation, no sideways scrolling at 390 px; a screenshot at
  1280x800 and one at 390 px go to ``tests/screenshots/`` (ignored by git).

Every page gets axe-core as an init script: the devtools protocol injects it, so the
console's CSP, which forbids inline scripts, stays in force for the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from custos.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "tests" / "screenshots"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERIOUS = ("serious", "critical")
#: Playwright's wait for a page's element or navigation (a loaded machine is slow).
TIMEOUT_MS = 30_000


def _ready(page: Any) -> Any:
    page.set_default_timeout(TIMEOUT_MS)
    return page


def launch(pw: Any) -> Any:
    """Debian's Chromium (the one the capture tests use)."""
    return pw.chromium.launch(executable_path=load_settings().chromium_executable(), args=ARGS)


def new_page(browser: Any) -> Any:
    """A page in a fresh context (own cookies) at 1280x800, with axe-core loaded."""
    context = browser.new_context(viewport=WIDE)
    context.add_init_script(path=str(AXE))
    return _ready(context.new_page())


def profile_page(pw: Any, folder: Path, preferences: dict[str, Any]) -> Any:
    """A page in a new Chromium profile at ``folder`` (its ``Default/Preferences`` set
    to ``preferences``), at 1280x800, with axe-core loaded. Close ``page.context``."""
    (folder / "Default").mkdir(parents=True)
    (folder / "Default" / "Preferences").write_text(json.dumps(preferences))
    context = pw.chromium.launch_persistent_context(
        str(folder),
        executable_path=load_settings().chromium_executable(),
        args=ARGS,
        viewport=WIDE,
    )
    context.add_init_script(path=str(AXE))
    return _ready(context.pages[0] if context.pages else context.new_page())


def sign_in(page: Any, url: str, username: str, password: str) -> None:
    """Sign in to the console at ``url`` through its form."""
    page.goto(f"{url}/signin")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(?!signin).*"))


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now."""
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in SERIOUS]


def describe(violations: list[dict[str, Any]]) -> str:
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
    assert not violations, f"{page.url}: {describe(violations)}"
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
