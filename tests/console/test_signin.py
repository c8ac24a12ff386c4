"""Signing in and out in the browser; the navigation each role sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, check_page, new_page

pytestmark = [pytest.mark.server]


def test_sign_in_shows_the_dashboard_and_sign_out_ends_the_session(
    console: Console, browser: Any, request: pytest.FixtureRequest
) -> None:
    page = new_page(browser)
    try:
        page.goto(f"{console.url}/transfers")
        assert "/signin" in page.url  # sent to sign in, then back
        check_page(page, request, "signin")
        page.get_by_label("User name").fill("archivist")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "Unknown user name or wrong password."
        check_page(page, request, "signin-failed")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{console.url}/transfers")
        cookie = next(c for c in page.context.cookies() if c["name"] == "custos_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{console.url}/signin")
        page.goto(f"{console.url}/")
        assert "/signin" in page.url
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("archivist", ["Dashboard", "Transfers", "Ingest", "Backlog"], []),
        ("auditor", ["Dashboard", "Transfers", "Ingest"], []),
        ("capture", ["Dashboard"], ["Transfers", "Ingest", "Backlog"]),
    ],
)
def test_each_role_sees_only_its_pages(
    signed_in: Callable[[str], Any],
    visit: Callable[..., Any],
    console: Console,
    role: str,
    shown: list[str],
    hidden: list[str],
) -> None:
    page = signed_in(role)
    visit(page, "/", f"dashboard-{role}")
    nav = page.get_by_role("navigation", name="Main")
    for label in shown:
        assert nav.get_by_role("link", name=label, exact=True).count() == 1
    for label in hidden:
        assert nav.get_by_role("link", name=label, exact=True).count() == 0
    if role == "capture":  # and the page itself is refused, not only hidden
        response = page.goto(f"{console.url}/transfers")
        assert response is not None and response.status == 403
    if role == "auditor":  # reads, but no button that changes anything
        visit(page, "/transfers", "transfers-auditor")
        assert page.get_by_role("button", name="Start transfer").count() == 0
