"""The capture flow as a recipe: page loads retried as Prefect task retries (inline and
in a real flow run), failures recorded the Perma way. The browser is replaced by a
stand-in engine that fails the way Chromium does (``navigation failed: ...``), so the
retries are exact; the real engine runs in ``test_capture_flow.py``."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from custos.accounts import create_user
from custos.captures import create_capture
from custos.db import session_scope
from custos.errors import ToolFailed
from custos.models import (
    ArchiveResult,
    Capture,
    CaptureJob,
    CaptureJobStatus,
    CaptureStatus,
    Job,
    Unit,
    UnitStatus,
)
from flows.capture import capture
from tasks.capture import load
from tasks.capture.engine import CaptureResult

URL = "http://example.org/"


class Engine:
    """Stands in for ``tasks.capture.engine.capture``: fails ``failures`` times first."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, url: str, out_dir: Path, options: Any, pool: Any = None) -> CaptureResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        out_dir.mkdir(parents=True, exist_ok=True)
        warc = out_dir / "archive.warc.gz"
        warc.write_bytes(gzip.compress(b"WARC/1.1\r\n\r\n"))
        if self.calls <= self.failures:
            return CaptureResult(
                url=url, warc_path=warc, error="navigation failed: net::ERR_CONNECTION_RESET"
            )
        (out_dir / "screenshot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        return CaptureResult(
            url=url,
            final_url=url,
            status=200,
            title="Loaded",
            warc_path=warc,
            screenshot_path=out_dir / "screenshot.png",
        )


@pytest.fixture()
def no_delay(custos_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(load.load_page, "retry_delay_seconds", 0)
    yield


def _capture(name: str) -> str:
    user = create_user(name)
    return create_capture(URL, user, submit=False).uuid


def _rows(uuid: str) -> tuple[Capture, CaptureJob, Unit, dict[str, str], list[str]]:
    with session_scope() as s:
        row = s.get(Capture, uuid)
        unit = s.get(Unit, uuid)
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == uuid)).one()
        results = {
            r.extractor: str(r.status)
            for r in s.exec(select(ArchiveResult).where(col(ArchiveResult.capture_uuid) == uuid))
        }
        jobs = [
            f"{j.name}: {j.status}"
            for j in s.exec(select(Job).where(col(Job.unit_uuid) == uuid).order_by(col(Job.seq)))
        ]
    assert row is not None and unit is not None
    return row, job, unit, results, jobs


def test_a_page_that_loads_on_its_third_attempt_is_captured(
    no_delay: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(failures=2)
    monkeypatch.setattr(load, "capture", engine)
    uuid = _capture("retry-user")
    assert capture.fn(uuid) is True
    row, job, unit, results, jobs = _rows(uuid)
    assert engine.calls == 3
    assert (job.status, job.attempt) == (CaptureJobStatus.COMPLETED, 3)
    assert row.status == CaptureStatus.SUCCEEDED and row.title == "Loaded"
    assert results["warc"] == "succeeded" and results["screenshot"] == "succeeded"
    assert unit.status == UnitStatus.COMPLETE
    assert jobs == [
        "Load page and record WARC: COMPLETE",
        "Record capture outputs: COMPLETE",
        "Remove the processing directory: COMPLETE",
    ]


def test_a_page_that_never_loads_is_recorded_as_failed_after_three_attempts(
    no_delay: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(failures=5)
    monkeypatch.setattr(load, "capture", engine)
    uuid = _capture("never-user")
    assert capture.fn(uuid) is False
    row, job, unit, results, jobs = _rows(uuid)
    assert engine.calls == 3
    assert (job.status, job.attempt) == (CaptureJobStatus.FAILED, 3)
    assert json.loads(job.message or "") == {
        "error": ["navigation failed: net::ERR_CONNECTION_RESET"]
    }
    assert row.status == CaptureStatus.FAILED and row.warc_path  # the evidence is kept
    assert results["warc"] == "succeeded" and results["title"] == "failed"
    assert unit.status == UnitStatus.FAILED
    assert unit.error == "navigation failed: net::ERR_CONNECTION_RESET"


def test_an_engine_error_fails_the_capture_once_with_perma_wording(
    no_delay: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(0, ToolFailed("chromium", 1, "cannot start"))
    monkeypatch.setattr(load, "capture", engine)
    uuid = _capture("broken-user")
    with pytest.raises(ToolFailed):
        capture.fn(uuid)
    row, job, unit, results, jobs = _rows(uuid)
    assert engine.calls == 1  # our own failure: never retried
    assert job.status == CaptureJobStatus.FAILED and row.status == CaptureStatus.FAILED
    message = json.loads(job.message or "")["error"][0]
    assert message.startswith("Failed during capture: ") and "cannot start" in message
    assert unit.status == UnitStatus.FAILED and unit.error == message
    assert results == {}
    assert jobs[0] == "Load page and record WARC: FAILED"


def test_a_deleted_capture_is_not_loaded(no_delay: None, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(failures=0)
    monkeypatch.setattr(load, "capture", engine)
    uuid = _capture("deleted-user")
    with session_scope() as s:
        row = s.get(Capture, uuid)
        assert row is not None
        row.user_deleted = True
    assert capture.fn(uuid) is False
    assert engine.calls == 0


def test_page_loads_are_retried_by_prefect_in_a_flow_run(
    no_delay: None, prefect_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(failures=1)
    monkeypatch.setattr(load, "capture", engine)
    uuid = _capture("prefect-user")
    assert capture(uuid) is True  # a real flow run: load_page is a task run, retried
    _, job, unit, _, _ = _rows(uuid)
    assert engine.calls == 2 and job.attempt == 2
    assert unit.status == UnitStatus.COMPLETE
