"""Every page each role reaches, walked in the browser as a user walks it.

For each role: every page of its navigation (the same navigation on every page, the
current one marked, each page at the URL its link names and again after a reload),
checked as every page must pass (axe-core, 390 px, screenshots) and reporting nothing
done (no notice) when nothing was; the keyboard reaches
every control of the page with a visible focus ring; the live parts ask the server at
most once a second. An auditor's pages hold no form that changes anything; a capture
user's no transfer, SIP or AIP; a form posted without its CSRF token is refused and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.console.conftest import Console

pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]

NAV = {
    "admin": [
        "Dashboard",
        "Transfers",
        "Ingest",
        "Backlog",
        "Archival storage",
        "Captures",
        "Administration",
    ],
    "archivist": ["Dashboard", "Transfers", "Ingest", "Backlog", "Archival storage"],
    "auditor": ["Dashboard", "Transfers", "Ingest", "Backlog", "Archival storage"],
    "capture": ["Dashboard", "Captures"],
}
#: Seconds the live parts are watched for, and the most requests allowed in them.
WATCH_S = 7

FOCUS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return {
        tag: el.tagName, text: (el.innerText || el.value || el.name || '').trim().slice(0, 40),
        ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
        shown: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0,
    };
}"""


def nav_links(page: Any) -> list[tuple[str, str]]:
    nav = page.get_by_role("navigation", name="Main")
    links = nav.get_by_role("link").all()
    return [(link.inner_text().strip(), link.get_attribute("href") or "") for link in links]


def tab_through(page: Any, stops: int = 60) -> list[dict[str, Any]]:
    """Press Tab from the top of the page; each focused element, until focus leaves
    the page or comes back to the first one."""
    page.locator("body").focus()
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    seen: list[dict[str, Any]] = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS)
        if focused is None or (seen and focused == seen[0]):
            break
        seen.append(focused)
    return seen


def live_requests(page: Any, seconds: float) -> list[str]:
    """The requests the page makes by itself (no navigation) while it is left open."""
    made: list[str] = []

    def note(request: Any) -> None:
        if request.resource_type in ("xhr", "fetch"):
            made.append(request.url)

    page.on("request", note)
    page.wait_for_timeout(seconds * 1000)
    page.remove_listener("request", note)
    return made


@pytest.mark.parametrize("role", list(NAV))
def test_every_page_of_each_role(
    signed_in: Callable[[str], Any],
    visit: Callable[..., Any],
    console: Console,
    role: str,
) -> None:
    page = signed_in(role)
    visit(page, "/", f"walk-{role}-dashboard")
    links = nav_links(page)
    assert [label for label, _ in links] == NAV[role]
    for label, href in links:
        visit(page, href, f"walk-{role}-{label}")
        assert page.url == f"{console.url}{href}"  # the link's URL is the page's
        notices = page.locator("main .notice[role=status]")  # nothing done: nothing to report
        assert notices.count() == 0, notices.all_inner_texts()
        assert nav_links(page) == links  # the same navigation on every page
        current = page.get_by_role("navigation", name="Main").locator("[aria-current=page]")
        assert current.all_inner_texts() == [label]
        page.reload()  # a stable URL: the same page again
        assert current.all_inner_texts() == [label]

        focused = tab_through(page)
        assert focused and focused[0]["text"] == "Skip to the content", focused[:2]
        hidden = [f for f in focused if not (f["ring"] and f["shown"])]
        assert not hidden, f"{href}: focus not visible on {hidden}"
        texts = [f["text"] for f in focused]
        assert set(NAV[role]) <= set(texts), (href, texts)

        if role == "auditor":  # nothing that changes anything, on any page
            posts = page.locator("main form[method=post]")
            assert posts.count() == 0, posts.evaluate_all("fs => fs.map(f => f.action)")

    for path in ("/", "/transfers", "/ingest") if role != "capture" else ("/",):
        page.goto(f"{console.url}{path}")
        made = live_requests(page, WATCH_S)
        assert len(made) <= WATCH_S, f"{path} asked {len(made)} times in {WATCH_S} s: {made}"
        if role != "capture":
            assert made, f"{path} did not update itself"

    if role == "capture":  # no transfer, SIP or AIP, not even by its URL
        for path in ("/transfers", "/ingest", "/backlog", "/archival-storage"):
            response = page.goto(f"{console.url}{path}")
            assert response is not None and response.status == 403, path


def test_keyboard_alone_reaches_a_page_through_the_navigation(
    signed_in: Callable[[str], Any], console: Console
) -> None:
    page = signed_in("archivist")
    page.goto(f"{console.url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")  # the skip link moves focus into the content
    assert page.evaluate("document.activeElement.id") == "main"
    page.goto(f"{console.url}/")  # from the top again: through the navigation
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Archival storage":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"{console.url}/archival-storage")
    page.get_by_label("Name or UUID").focus()
    page.keyboard.type("no such AIP")
    page.keyboard.press("Enter")  # the search form submits from the keyboard
    page.wait_for_url("**/archival-storage?*q=no+such+AIP*")


def test_a_form_posted_without_its_csrf_token_is_refused(
    signed_in: Callable[[str], Any], console: Console
) -> None:
    page = signed_in("admin")
    page.goto(f"{console.url}/admin/users")
    forged = page.evaluate(
        """async () => {
            const form = new FormData();
            form.append('username', 'forged-user');
            form.append('password', 'forged-password-1');
            form.append('role', 'admin');
            const r = await fetch('/admin/users', {method: 'POST', body: form});
            return r.status;
        }"""
    )
    assert forged == 403
    # the same form as a page would send it, its token removed
    page.evaluate(
        """() => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = '/signout';
            document.body.append(form);
            form.submit();
        }"""
    )
    page.wait_for_url(f"{console.url}/signout")
    assert page.get_by_role("alert").inner_text() == (
        "This form has expired or did not come from this site: reload the page and try again."
    )
    page.goto(f"{console.url}/admin/users")  # still signed in, and no forged user
    assert "/signin" not in page.url
    assert page.locator("main").get_by_text("forged-user").count() == 0
