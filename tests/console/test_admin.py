"""Administration in the browser: a processing configuration edited as a form (saved
as processingMCP.xml; an invalid value refused), the format policy, users and keys,
locations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from custos.processing import parse_xml
from tests.console.conftest import Console


def test_admin_edits_a_processing_config_and_an_invalid_one_is_refused(
    signed_in: Callable[[str], Any], visit: Callable[..., Any], console: Console
) -> None:
    page = signed_in("admin")
    visit(page, "/admin", "admin")
    visit(page, "/admin/processing", "admin-processing")
    page.get_by_label("Name").fill("webtest")
    page.get_by_label("Start from").select_option("automated")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{console.url}/admin/processing/webtest")
    visit(page, "/admin/processing/webtest", "admin-processing-form")
    assert page.get_by_label("Create SIP(s)").input_value() == "single"  # from automated
    page.get_by_label("Create SIP(s)").select_option(label="Send to backlog")
    page.get_by_label("Select compression algorithm").select_option(label="Gzipped tar")
    page.get_by_label("Normalize", exact=True).select_option(label="None (ask)")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{console.url}/admin/processing/webtest?saved=1")
    assert page.get_by_role("status").inner_text() == "Saved."
    stored = console.home / "processing_configs" / "webtest.xml"
    config = parse_xml(stored.read_bytes())
    assert (config.create_sip, config.compression_algorithm) == ("backlog", "tar.gz")
    assert config.normalize is None and config.virus_scanning is True
    before = stored.read_bytes()

    # a value that is not one of the decision's choices (a forged option) is refused
    page.evaluate(
        """() => {
            const s = document.querySelector('select[name=compression_level]');
            s.add(new Option('4', '4', true, true));
        }"""
    )
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text() == (
        "Select compression level: '4' is not one of its choices (1, 3, 5, 7, 9)"
    )
    assert stored.read_bytes() == before  # nothing written
    assert page.get_by_label("Create SIP(s)").input_value() == "backlog"  # what was sent stays


def test_admin_pages_policy_users_keys_locations(
    signed_in: Callable[[str], Any], visit: Callable[..., Any], console: Console
) -> None:
    page = signed_in("admin")
    visit(page, "/admin/format-policy", "admin-format-policy")
    policy = page.locator("#format-policy")
    assert "fmt/43" in policy.inner_text() and "image-to-tiff" in policy.inner_text()

    visit(page, "/admin/users", "admin-users")
    page.get_by_label("User name").fill("webtest-user")
    page.get_by_label("Password").fill("a-long-enough-password-1")
    page.locator("#role").select_option("auditor")
    page.get_by_role("button", name="Create user").click()
    row = page.locator("#users tr", has_text="webtest-user")
    assert row.locator("select").input_value() == "auditor"
    page.get_by_label("User", exact=True).select_option("webtest-user")
    page.get_by_label("Label").fill("for the test")
    page.get_by_role("button", name="Create key").click()
    assert "shown only now" in page.locator("#new-key").inner_text()
    key_row = page.locator("#keys tr", has_text="for the test")
    key_row.get_by_role("button", name="Revoke").click()
    assert "revoked" in page.locator("#keys tr", has_text="for the test").inner_text()
    row = page.locator("#users tr", has_text="webtest-user")
    row.get_by_role("button", name="Deactivate").click()
    row = page.locator("#users tr", has_text="webtest-user")
    assert row.get_by_role("button", name="Reactivate").count() == 1

    visit(page, "/admin/locations", "admin-locations")
    assert page.locator("#locations tr", has_text="AIP storage").count() >= 1
    page.get_by_label("Folder (absolute path on the server)").fill("/no/such/folder")
    page.get_by_role("button", name="Add location").click()
    assert "is not a folder" in page.get_by_role("alert").inner_text()
