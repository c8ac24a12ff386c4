"""Chromium killed in the middle of a capture: tried once more with a new browser, and a
second death fails the capture with the reason (``tasks.capture.load``).

The kill is real: every Chromium process below this test process gets SIGKILL just
before the page is loaded (the engine's ``_browse``), on the attempts chosen.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import Capture, CaptureJob, Unit, UnitStatus
from tasks.capture import engine
from tests.capture.site import SiteServer


def _chromium_below(pid: int) -> list[int]:
    """Chromium processes below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            names[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def below(child: int) -> bool:
        while child in parents and child != pid:
            child = parents[child]
        return child == pid

    return [p for p, name in names.items() if "chrom" in name.lower() and p != pid and below(p)]


def _kill_on(attempts: set[int], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Kill Chromium right before the page load of each attempt in ``attempts``."""
    real = engine._browse
    seen: list[int] = []

    async def browse(*args: Any, **kwargs: Any) -> None:
        seen.append(len(seen) + 1)
        if seen[-1] in attempts:
            victims = _chromium_below(os.getpid())
            assert victims, "no Chromium process found to kill"
            for victim in victims:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:  # gone with the one killed before it
                    pass
        await real(*args, **kwargs)

    monkeypatch.setattr(engine, "_browse", browse)
    return seen


def _capture(site: SiteServer) -> tuple[Capture, CaptureJob, Unit]:
    from api.app import create_app
    from custos import dispatch

    user = create_user(f"crash-{os.urandom(3).hex()}", is_admin=True)
    assert user.id is not None
    key = create_api_key(user.id)
    with TestClient(create_app()) as client:
        created = client.post(
            "/v1/archives",
            json={"url": f"{site.base}/simple.html"},
            headers={"Authorization": f"ApiKey {key}"},
        )
        assert created.status_code == 201, created.text
        guid = created.json()["guid"]
        assert dispatch.inline_backend().wait_all(timeout=300)
    with session_scope() as s:
        capture = s.exec(select(Capture).where(col(Capture.guid) == guid)).one()
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)).one()
        unit = s.get(Unit, capture.uuid)
        assert unit is not None
        return capture, job, unit


def test_a_browser_killed_once_is_retried_with_a_new_one(
    site: SiteServer, live_captures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _kill_on({1}, monkeypatch)
    capture, job, unit = _capture(site)
    assert attempts == [1, 2]
    assert (capture.status, job.status) == ("succeeded", "completed"), job.message
    assert unit.status == UnitStatus.COMPLETE
    assert capture.warc_path and Path(capture.warc_path).is_file()


def test_a_browser_killed_twice_fails_the_capture_with_the_reason(
    site: SiteServer, live_captures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _kill_on({1, 2, 3}, monkeypatch)
    capture, job, unit = _capture(site)
    assert attempts == [1, 2]  # retried once, not a third time
    assert capture.status == "failed" and job.status == "failed"
    assert unit.status == UnitStatus.FAILED
    assert job.message and "browser crashed" in job.message, job.message
    assert unit.error and "browser crashed" in unit.error and "2 times" in unit.error


@pytest.mark.timeout(900)
def test_a_batch_shares_one_browser_and_replaces_it_when_it_dies(
    site: SiteServer, live_captures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The captures of a batch run on one warm browser (``tasks.capture.warm``); killed
    under them, it is replaced once and every capture still succeeds."""
    from api.app import create_app
    from custos import dispatch
    from tasks.capture import warm

    launches: list[int] = []
    real_start = warm.BrowserPool.from_settings

    def counted(*args: Any, **kwargs: Any) -> Any:
        launches.append(1)
        return real_start(*args, **kwargs)

    monkeypatch.setattr(warm.BrowserPool, "from_settings", counted)
    attempts = _kill_on({1}, monkeypatch)
    user = create_user(f"crash-{os.urandom(3).hex()}", is_admin=True)
    assert user.id is not None
    perma = {"Authorization": f"ApiKey {create_api_key(user.id)}"}
    urls = [f"{site.base}/page?n={n}" for n in range(1, 4)]
    with TestClient(create_app()) as client:
        folder = client.get("/v1/folders", headers=perma).json()["objects"][0]["id"]
        made = client.post(
            "/v1/archives/batches", headers=perma, json={"urls": urls, "target_folder": folder}
        )
        assert made.status_code == 201, made.text
        assert dispatch.inline_backend().wait_all(timeout=600)
        jobs = client.get(f"/v1/archives/batches/{made.json()['id']}", headers=perma).json()
    assert {j["status"] for j in jobs["capture_jobs"]} == {"completed"}, jobs
    assert len(attempts) >= 4  # three pages, and again the one(s) the kill interrupted
    assert len(launches) == 2  # the batch's browser, and the one after it was killed
