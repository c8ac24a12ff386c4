"""A capture killed with SIGKILL while it is being preserved ends with one AIP.

The page is captured once (Chromium, the loopback test site); then a child process
runs the ``capture`` flow, which resumes after the capture and preserves it, and
dies at a fault point: while the capture is laid out as a transfer, once the
transfer exists, inside the transfer, or once the laid-out folder is removed. This
process then does what the reconciler does after a crash (``custos.reconciler``,
every run found dead) and runs what it resubmits, as the served runner would: the
transfer on its own and the capture, which finds that transfer and waits for it
instead of starting a second one. The result must be the uninterrupted run's: one
transfer per capture, its SIP recorded as the capture's AIP with one ``preservation``
outcome, both units complete, the same files and events in the SIP, and nothing left
in the transfer source or in processing.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from custos import capture_progress, dispatch
from custos.accounts import create_user
from custos.captures import create_capture
from custos.db import get_engine, session_scope
from custos.models import (
    ArchiveResult,
    Capture,
    LocationPurpose,
    Unit,
    UnitStatus,
    UnitType,
)
from custos.reconciler import UNIT_FLOWS, Verdict, lost_units
from custos.storage import default_location
from flows.capture import capture, capture_web_page, claim_capture_job
from flows.steps import walk
from flows.transfer import run_transfer
from tests.capture.site import SiteServer
from tests.flows.test_fault_points import _result, crash_at
from tests.support.recording import RecordingBackend

pytestmark = pytest.mark.timeout(1800)

#: Every ``preserve-capture`` point, and a point inside the transfer it runs.
POINTS = [
    "preserve-capture:preparing",
    "preserve-capture:started",
    "move-to-processing:renamed",
    "preserve-capture:removed",
]


def _captured(site: SiteServer, name: str) -> Capture:
    """A capture of the test page with preservation asked for, its page captured."""
    recorded = RecordingBackend()
    dispatch.set_backend(recorded)  # the capture flow is run below, step by step
    try:
        user = create_user(name)
        capture_row = create_capture(f"{site.base}/simple.html", user, preserve=True)
        outcome = walk(capture_row.uuid, (claim_capture_job, capture_web_page), prefect=False)
        assert outcome.name == "CONTINUE" and capture_progress.captured(capture_row.uuid)
    finally:
        dispatch.set_backend(None)
    return capture_row


def _resume_as_the_reconciler_would(capture_uuid: str) -> list[str]:
    """Find the lost units as the reconciler does (every run died with the service),
    then run what it would resubmit: the transfer on its own, the capture beside it
    (a capture waits for its transfer). Returns the flows resubmitted."""
    mine = {capture_uuid, capture_progress.preservation_transfer(capture_uuid)}
    lost = lost_units(get_engine(), lambda _run: Verdict.RESTARTED, grace=timedelta(0))
    runs = [(UNIT_FLOWS[UnitType(u.unit_type)], u.uuid) for u, _ in lost if u.uuid in mine]
    dispatch.set_backend(RecordingBackend())  # the ingest is not run here
    try:
        captures = [
            threading.Thread(target=capture.fn, args=(uuid,))
            for name, uuid in runs
            if name == "capture"
        ]
        for thread in captures:
            thread.start()
        for name, uuid in runs:
            if name == "transfer":
                assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
        for thread in captures:
            thread.join(600)
            assert not thread.is_alive(), "the resumed capture did not end"
        return sorted(name for name, _ in runs)
    finally:
        dispatch.set_backend(None)


def _outcome(capture_uuid: str) -> dict[str, Any]:
    """What must not depend on a crash, with this capture's GUID as ``<guid>``."""
    with session_scope() as s:
        row = s.get(Capture, capture_uuid)
        assert row is not None
        unit = s.get(Unit, capture_uuid)
        assert unit is not None and unit.status == UnitStatus.COMPLETE, unit.status
        transfers = s.exec(
            select(Unit).where(
                col(Unit.accession) == row.guid, col(Unit.unit_type) == UnitType.TRANSFER
            )
        ).all()
        results = s.exec(
            select(ArchiveResult).where(
                col(ArchiveResult.capture_uuid) == capture_uuid,
                col(ArchiveResult.extractor) == capture_progress.PRESERVATION_EXTRACTOR,
            )
        ).all()
        guid = row.guid
    assert [t.uuid for t in transfers] == [capture_progress.preservation_transfer(capture_uuid)]
    assert [(r.status, r.output) for r in results] == [("succeeded", row.aip_uuid)]
    assert row.aip_uuid == transfers[0].sip_uuid
    source = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / "captures"
    assert list(source.glob(f"capture-{guid}-*")) == []  # the laid-out copy is removed
    sip = _result(transfers[0].uuid)

    def norm(value: Any) -> Any:
        return (
            {norm(k): norm(v) for k, v in value.items()}
            if isinstance(value, dict)
            else tuple(norm(v) for v in value)
            if isinstance(value, tuple)
            else value.replace(guid, "<guid>")
            if isinstance(value, str)
            else value
        )

    files = {path: entry[1:] for path, entry in sip["files"].items()}  # not checksums:
    return {  # every capture's WARC is new
        "files": norm(files),
        "events": norm(dict(sip["events"])),
        "stray": norm(tuple(sip["stray"])),
    }


@pytest.fixture(scope="module")
def uninterrupted(site: SiteServer, capture_settings: None) -> dict[str, Any]:
    row = _captured(site, "preserve-reference")
    dispatch.set_backend(RecordingBackend())
    try:
        capture.fn(row.uuid)
    finally:
        dispatch.set_backend(None)
    return _outcome(row.uuid)


@pytest.fixture(scope="module")
def capture_settings(custos_home: Path) -> Any:
    """Loopback pages may be captured (the test site), with generous limits."""
    from custos.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUSTOS_CAPTURE_ALLOW_LOOPBACK", "true")
        patch.setenv("CUSTOS_CAPTURE_TIMEOUT", "90")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.mark.parametrize("point", POINTS)
def test_capture_killed_while_preserved_resumes_to_one_aip(
    point: str, site: SiteServer, capture_settings: None, uninterrupted: dict[str, Any]
) -> None:
    row = _captured(site, f"preserver-{point.replace(':', '-')}")
    crash_at(point, "capture", row.uuid)
    assert capture_progress.unit_status(row.uuid) == UnitStatus.PROCESSING
    resubmitted = _resume_as_the_reconciler_would(row.uuid)
    # the capture always; its transfer while it exists unfinished (its run died too)
    unfinished = point in ("preserve-capture:started", "move-to-processing:renamed")
    assert resubmitted == (["capture", "transfer"] if unfinished else ["capture"])
    assert _outcome(row.uuid) == uninterrupted
