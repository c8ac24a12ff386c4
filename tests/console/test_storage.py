"""Archival storage in the browser: find an AIP by a PUID, download it and check the
bag, "verify now"; an auditor sees the AIP but no button that changes anything."""

from __future__ import annotations

import dataclasses
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from subprocess import run
from typing import Any
from uuid import UUID, uuid4

import bagit
import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.mets.mets import build_mets, mets_bytes
from custos.models import (
    Event,
    File,
    Location,
    LocationPurpose,
    Package,
    PackageStatus,
    Unit,
    UnitType,
)
from custos.programs import seven_zip
from tasks.aip_bag import build_aip_bag
from tests.console.conftest import Console
from tests.mets.conftest import WHEN, sample_aip

PUID = "fmt/353"  # TIFF: the one file of this format in the test AIP


@pytest.fixture(scope="module")
def stored(console: Console, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A real AIP bag (objects, METS) in the serve's AIP store, with its rows."""
    uuid = str(uuid4())
    name = f"letters-{uuid[:8]}"
    sip = tmp_path_factory.mktemp("sip")
    (sip / "objects" / "scans").mkdir(parents=True)
    (sip / "objects" / "scans" / "page-1.tif").write_bytes(b"II*\x00" + bytes(2000))
    (sip / "objects" / "letter.txt").write_text("Dear archivist,\n" * 40)
    aip = dataclasses.replace(sample_aip(), uuid=UUID(uuid), name=name)
    (sip / f"METS.{uuid}.xml").write_bytes(mets_bytes(build_mets(aip, now=lambda: WHEN)))
    with session_scope(console.engine) as s:
        loc = s.exec(
            select(Location).where(
                col(Location.purpose) == LocationPurpose.AIP_STORAGE, col(Location.is_default)
            )
        ).one()
        store = Path(loc.path)
        bag = build_aip_bag(sip, store, name=name, sip_uuid=UUID(uuid)).path
        s.add(Unit(uuid=uuid, unit_type=UnitType.SIP, name=name, accession="ACC-77"))
        s.flush()
        s.add(
            Package(
                uuid=uuid,
                name=name,
                location_uuid=loc.uuid,
                path=bag.name,
                status=PackageStatus.STORED,
                stored_at=datetime.now(UTC),
            )
        )
        s.flush()
        for path, puid, fmt in (
            ("objects/scans/page-1.tif", PUID, "Tagged Image File Format"),
            ("objects/letter.txt", "x-fmt/111", "Plain Text File"),
        ):
            s.add(
                File(
                    unit_uuid=uuid,
                    sip_uuid=uuid,
                    original_path=path,
                    current_path=path,
                    puid=puid,
                    format_name=fmt,
                )
            )
    return uuid, name


def _fixity_checks(console: Console, uuid: str) -> list[str]:
    """Outcomes of the fixity checks of the AIP itself (not of its files at ingest)."""
    with session_scope(console.engine) as s:
        return list(
            s.exec(
                select(Event.outcome)
                .where(
                    col(Event.unit_uuid) == uuid,
                    col(Event.file_uuid).is_(None),
                    col(Event.event_type) == "fixity check",
                )
                .order_by(col(Event.event_datetime))
            ).all()
        )


def download_and_validate(page: Any, tmp_path: Path, filename: str) -> Path:
    """Download the AIP shown in ``page`` (a tar of a directory AIP or the stored 7z),
    unpack it and validate it as a BagIt bag; the bag's directory."""
    with page.expect_download() as info:
        page.locator("#download").click()
    download = info.value
    assert download.suggested_filename == filename
    saved = tmp_path / filename
    download.save_as(saved)
    out = tmp_path / "out"
    if filename.endswith(".tar"):
        with tarfile.open(saved) as tar:
            tar.extractall(out, filter="data")
    else:
        run(
            [seven_zip(), "x", "-bd", "-y", f"-o{out}", str(saved)], check=True, capture_output=True
        )
    (top,) = list(out.iterdir())
    bag = bagit.Bag(str(top))
    bag.validate()  # raises on any missing, extra or altered file
    return Path(bag.path)


def verify_now(page: Any, console: Console, uuid: str) -> None:
    """Press "Verify now" on the AIP's page; a new fixity check passes and is shown."""
    before = len(_fixity_checks(console, uuid))
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_url(f"**/archival-storage/{uuid}?notice=verify")
    deadline = time.monotonic() + 300
    while len(_fixity_checks(console, uuid)) == before and time.monotonic() < deadline:
        time.sleep(1)
    assert _fixity_checks(console, uuid)[before:] == ["pass"]
    page.reload()
    history = page.locator("#fixity-history")
    assert "pass" in history.inner_text()
    assert "verified" in history.inner_text()


def test_find_by_puid_download_verify(
    signed_in: Callable[[str], Any],
    visit: Callable[..., Any],
    console: Console,
    stored: tuple[str, str],
    tmp_path: Path,
) -> None:
    uuid, name = stored
    page = signed_in("archivist")
    visit(page, "/archival-storage", "storage-search")
    page.get_by_label("Format PUID").fill(PUID)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/archival-storage?*puid=fmt%2F353*")
    results = page.locator("#aip-results")
    results.get_by_role("link", name=name).click()
    page.wait_for_url(f"{console.url}/archival-storage/{uuid}")
    visit(page, f"/archival-storage/{uuid}", "storage-aip")
    files = page.locator("#aip-files")
    assert files.get_by_text("report.txt").count() == 1  # the METS' file tree
    assert "Plain Text File (x-fmt/111)" in files.inner_text()
    assert page.get_by_text("Never checked since it was stored.").count() == 1

    bag = download_and_validate(page, tmp_path, f"{name}-{uuid}.tar")
    assert (bag / "data" / "objects" / "scans" / "page-1.tif").stat().st_size == 2004
    verify_now(page, console, uuid)


def test_auditor_sees_aips_but_no_button_that_changes_anything(
    signed_in: Callable[[str], Any],
    visit: Callable[..., Any],
    console: Console,
    stored: tuple[str, str],
) -> None:
    uuid, name = stored
    page = signed_in("auditor")
    visit(page, f"/archival-storage?q={name}", "storage-search-auditor")
    assert page.locator("#aip-results").get_by_role("link", name=name).count() == 1
    visit(page, f"/archival-storage/{uuid}", "storage-aip-auditor")
    assert page.locator("#download").count() == 1  # reading is allowed
    assert page.get_by_role("button", name="Verify now").count() == 0
    assert page.get_by_role("button", name="Start reingest").count() == 0
    posts = page.locator("main form[method=post]")
    assert posts.count() == 0, posts.evaluate_all("fs => fs.map(f => f.action)")
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Administration").count() == 0
    response = page.goto(f"{console.url}/admin/users")
    assert response is not None and response.status == 403
    # and a forged post is refused by role, not only hidden
    status = page.evaluate(
        """async (url) => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRF-Token': token}});
            return r.status;
        }""",
        f"{console.url}/archival-storage/{uuid}/verify",
    )
    assert status == 403
    assert _fixity_checks(console, uuid) in ([], ["pass"])  # nothing new from the auditor


def test_bad_search_input_is_a_one_line_error(
    signed_in: Callable[[str], Any], console: Console
) -> None:
    page = signed_in("auditor")
    response = page.goto(f"{console.url}/archival-storage?stored_from=yesterday")
    assert response is not None and response.status == 400
    assert page.get_by_role("alert").inner_text() == (
        "stored_from must be a date (YYYY-MM-DD), not 'yesterday'"
    )
