"""A transfer from the source browser to a stored AIP, all in the browser.

Started from the folder tree with the ``default`` configuration and an approval
step; every decision answered in the transfer's and then the SIP's page (the
pages update themselves while the units run); the AIP counted on the dashboard,
then found in Archival storage by the PUID of one of its files, downloaded (its bag
validated with bagit), verified with "verify now" and reingested from its page: a
metadata reingest answered and followed to its end in the page (the stored AIP gets a
new METS with a LASTMODDATE and a ``reingestion`` event per file), a partial reingest
rejected at *Approve AIP reingest* and a full one (a new transfer of the AIP) rejected
at its first decision that offers it, both leaving the stored AIP as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlmodel import col, select

from custos.aip_read import stored_aip
from custos.aip_summary import stored_mets_summary
from custos.db import session_scope
from custos.models import Event, File, FileUse, Package, PackageStatus, TransferType, Unit
from tests.console.conftest import Console, check_page
from tests.console.test_storage import download_and_validate, verify_now

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(3600)]

#: The choice taken at each decision (by label), else the first that rejects nothing.
PREFER = (
    "Do not upload DIP",
    "Do not normalize",
    "Skip examine contents",
    "Create single SIP and continue processing",
    "Store AIP",
    "Yes",
    "Continue",
)
DONE = "#unit-status .status-COMPLETE, #unit-status .status-FAILED, #unit-status .status-REJECTED"


def pick(labels: list[str]) -> str:
    for wanted in PREFER:
        if wanted in labels:
            return wanted
    return next(label for label in labels if "reject" not in label.lower())


def answer_until_done(
    page: Any,
    request: pytest.FixtureRequest,
    what: str,
    problems: list[str],
    console: Console,
    reject_at: str = "",
    ends: str = "Completed",
) -> list[str]:
    """Answer each decision the unit's page shows until the unit ends ``ends``; the
    questions. A decision offering a choice named ``reject_at`` gets that choice.

    ``problems`` collects the page's failed requests (shown if an update is missed).
    """
    asked: list[str] = []
    missed: list[str] = []
    while True:
        try:  # the page updates itself: no reload while the unit runs
            page.wait_for_selector(f"{DONE}, section.decision", timeout=300_000)
        except PlaywrightTimeout:
            missed.append(f"after {asked[-1:]}: {page.inner_text('#live')[:300]}")
            page.reload()
            continue
        decision = page.locator("section.decision")
        if decision.count() == 0:
            break
        question = decision.first.get_by_role("heading").inner_text()
        if not asked:
            check_page(page, request, f"{what}-decision")
        asked.append(question)
        approve = decision.first.get_by_role("button", name="Approve transfer")
        # the answer's navigation (POST, redirect, the page) may take long on a busy machine
        if approve.count():
            approve.click(timeout=180_000)
        else:
            select = decision.first.get_by_label("Choice")
            labels = [t.strip() for t in select.locator("option").all_inner_texts()]
            chosen = reject_at if reject_at in labels else pick(labels)
            select.select_option(label=chosen)
            decision.first.get_by_role("button", name="Answer").click(timeout=180_000)
        page.wait_for_load_state("load")
        assert len(asked) < 40, asked
    status = page.locator("#unit-status").inner_text()
    assert status == ends, f"{what} ended {status}: {page.inner_text('main')[:3000]}"
    assert not missed, (
        f"the page did not update itself: {missed}; {problems}; API log: {console.api_log()}"
    )
    return asked


def test_transfer_from_the_source_browser_to_a_stored_aip(
    console: Console,
    signed_in: Callable[[str], Any],
    visit: Callable[..., Any],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    letters = console.home / "locations" / "transfer-source" / "incoming" / "letters"
    letters.mkdir(parents=True)
    (letters / "letter.txt").write_text("Dear reader,\nthe console works.\n")
    (letters / "notes.csv").write_text("a,b\n1,2\n")

    with session_scope(console.engine) as s:  # other tests may have stored AIPs
        stored_before = len(
            s.exec(select(Package.uuid).where(col(Package.status) == PackageStatus.STORED)).all()
        )

    page = signed_in("archivist")
    visit(page, "/transfers", "transfers-start")
    page.locator('details[data-path="incoming"] > summary').click()  # opens incoming/
    checkbox = page.get_by_role("checkbox", name="letters/")
    checkbox.check()
    page.get_by_label("Transfer type").select_option(label="Standard (a folder)")
    page.get_by_label("Name", exact=True).fill("console-letters")
    page.get_by_label("Accession number").fill("ACC-CONSOLE-1")
    page.get_by_label("Processing configuration").select_option("default")
    check_page(page, request, "transfers-selected")
    page.get_by_role("button", name="Start transfer").click()
    page.wait_for_url(re.compile(r".*/transfers/[0-9a-f-]{36}$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Transfer console-letters"

    problems: list[str] = []
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.url}: {r.status}") if r.status >= 400 else None,
    )
    asked = answer_until_done(page, request, "transfer", problems, console)
    assert asked[0] == "Decision: Approve standard transfer"
    check_page(page, request, "transfer-done")
    page.get_by_role("link", name="console-letters").first.click()  # its SIP
    page.wait_for_url(re.compile(r".*/ingest/[0-9a-f-]{36}$"))
    sip_uuid = page.url.rsplit("/", 1)[-1]
    answer_until_done(page, request, "sip", problems, console)
    check_page(page, request, "sip-done")

    # the microservice groups, a job's tasks (fetched when opened), the events
    groups = page.locator("details.group:not([open]):not(#events) > summary")
    for index in range(groups.count() - 1, -1, -1):  # open every group
        groups.nth(index).click()
    tasks = page.locator("details.group td details").first
    tasks.locator("summary").click()
    tasks.get_by_role("columnheader", name="Exit code").wait_for()
    assert tasks.locator("tbody tr").count() >= 1
    page.locator("#events > summary").click()
    assert page.locator("#events tbody tr").count() >= 1
    check_page(page, request, "sip-details")

    visit(page, "/", "dashboard-after")
    assert page.locator("#aip-count").inner_text() == str(stored_before + 1)
    visit(page, "/ingest", "ingest-list")
    assert page.locator("#unit-rows tr", has_text="console-letters").count() == 1

    # on into Archival storage with the AIP this transfer made
    with session_scope(console.engine) as s:
        aip = s.get(Package, sip_uuid)
        assert aip is not None and aip.status == PackageStatus.STORED
        stored_name = Path(aip.path).name
        puids = s.exec(
            select(File.puid)
            .where(col(File.sip_uuid) == sip_uuid, col(File.puid).is_not(None))
            .order_by(col(File.current_path))
        ).all()
    assert puids, "no file of the AIP has a PUID"
    puid = str(puids[0])
    visit(page, "/archival-storage", "storage-search-journey")
    page.get_by_label("Format PUID").fill(puid)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/archival-storage?*puid=*")
    found = page.locator("#aip-results").locator(f'a[href="/archival-storage/{sip_uuid}"]')
    assert found.count() == 1, page.inner_text("#aip-results")
    found.click()
    page.wait_for_url(f"{console.url}/archival-storage/{sip_uuid}")
    check_page(page, request, "storage-aip-journey")
    assert "letter.txt" in page.locator("#aip-files").inner_text()
    bag = download_and_validate(page, tmp_path, stored_name)
    letter = next(bag.glob("data/objects/**/letter.txt"))
    assert letter.read_text() == "Dear reader,\nthe console works.\n"
    verify_now(page, console, sip_uuid)
    reingest_from_the_aip_page(page, request, console, sip_uuid, problems)


def _stored_state(console: Console, uuid: str) -> tuple[str, str, str]:
    """The stored AIP's path, checksum and METS LASTMODDATE (read from the store)."""
    with session_scope(console.engine) as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED, pkg
    stored = stored_aip(uuid, console.engine)
    return str(stored.path), stored.checksum or "", stored_mets_summary(stored).lastmoddate


def _start_reingest(page: Any, console: Console, uuid: str, kind: str) -> None:
    page.goto(f"{console.url}/archival-storage/{uuid}")
    page.get_by_label("Type", exact=True).select_option(kind)
    page.get_by_role("button", name="Start reingest").click()


def reingest_from_the_aip_page(
    page: Any, request: pytest.FixtureRequest, console: Console, uuid: str, problems: list[str]
) -> None:
    """Metadata reingest to its end, partial and full reingests rejected, from the
    AIP's page; the stored AIP afterwards."""
    _, _, first_mod = _stored_state(console, uuid)
    assert first_mod == ""  # never reingested: the METS has no LASTMODDATE
    check_page(page, request, "storage-aip-reingest-form")

    _start_reingest(page, console, uuid, "metadata")
    page.wait_for_url(f"{console.url}/ingest/{uuid}")
    asked = answer_until_done(page, request, "reingest-metadata", problems, console)
    assert asked[0] == "Decision: Approve AIP reingest", asked
    check_page(page, request, "reingest-metadata-done")
    path, checksum, modified = _stored_state(console, uuid)
    assert modified, "the reingested AIP's METS has no LASTMODDATE"
    with session_scope(console.engine) as s:
        files = s.exec(
            select(File.uuid).where(col(File.sip_uuid) == uuid, col(File.use) == FileUse.ORIGINAL)
        ).all()
        reingested = set(
            s.exec(
                select(Event.file_uuid).where(
                    col(Event.unit_uuid) == uuid, col(Event.event_type) == "reingestion"
                )
            ).all()
        )
    assert files and set(files) <= reingested, (files, reingested)
    mets = stored_mets_summary(stored_aip(uuid, console.engine))
    letter = next(f for _, f in mets.root.walk() if getattr(f, "path", "").endswith("letter.txt"))
    assert "reingestion" in [e.type for e in letter.events]  # in the stored METS
    page.goto(f"{console.url}/archival-storage/{uuid}")
    check_page(page, request, "storage-aip-reingested")
    assert f"last modified {modified}" in page.locator("dl.facts").inner_text()
    assert "reingestion" in (page.locator("#aip-files").text_content() or "")  # (in closed details)

    # partial: rejected at its approval; the stored AIP stays as it is
    _start_reingest(page, console, uuid, "partial")
    page.wait_for_url(f"{console.url}/ingest/{uuid}")
    with session_scope(console.engine) as s:
        sip = s.get(Unit, uuid)
        assert sip is not None and (sip.variables or {}).get("reingest") == "partial"
    asked = answer_until_done(
        page, request, "reingest-partial", problems, console, "Reject SIP", "Rejected"
    )
    assert asked == ["Decision: Approve AIP reingest"], asked
    assert _stored_state(console, uuid) == (path, checksum, modified)

    # full: a new transfer of the AIP, rejected at its first decision that offers it
    _start_reingest(page, console, uuid, "full")
    page.wait_for_url(re.compile(r".*/transfers/[0-9a-f-]{36}$"))
    transfer_uuid = page.url.rsplit("/", 1)[-1]
    with session_scope(console.engine) as s:
        transfer = s.get(Unit, transfer_uuid)
        assert transfer is not None and transfer.transfer_type == TransferType.AIP
        assert (transfer.variables or {}).get("reingest_aip") == uuid
    answer_until_done(
        page, request, "reingest-full", problems, console, "Reject transfer", "Rejected"
    )
    assert _stored_state(console, uuid) == (path, checksum, modified)
