"""clamd killed in the middle of a scan: started again, and the files it did not
answer for scanned again (``tasks.tools.clamav.scan_private``)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from custos.settings import PACKAGE_DATA
from tasks.tools import clamav
from tasks.tools.clamav import CLEAN, INFECTED, Clamd, ClamdScanner, scan_files

DB = PACKAGE_DATA / "clamav"


def _files(folder: Path, make: Any, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for index in range(count):
        path = folder / f"f{index:03}.txt"
        path.write_bytes(f"file {index}\n".encode() * 10)
        paths.append(path)
    paths.append(make.bytes("eicar.com", make.eicar))
    return paths


def _killer(run_dir: Path, after: int, kills: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make clamd (the real process the scan started last) die by SIGKILL when the scan
    reaches its ``after``-th file, ``kills`` times; returns the pids killed."""
    real_scan, real_start = ClamdScanner.scan_file, Clamd.start
    calls = {"n": 0}
    started: list[Clamd] = []
    killed: list[int] = []
    lock = threading.Lock()

    def start(self: Clamd) -> None:
        real_start(self)
        started.append(self)

    def scan_file(self: ClamdScanner, path: str | Path) -> Any:
        calls["n"] += 1
        if calls["n"] % after == 0 and len(killed) < kills and started:
            with lock:  # scans run in several threads: one of them kills
                process = started[-1].process
                if process is not None and process.pid not in killed:  # each clamd once
                    killed.append(process.pid)
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(60)  # dead before the scan goes on (a loaded machine)
        return real_scan(self, path)

    monkeypatch.setattr(Clamd, "start", start)
    monkeypatch.setattr(ClamdScanner, "scan_file", scan_file)
    return killed


def test_clamd_killed_mid_scan_is_restarted_and_the_scan_redone(
    tmp_path: Path, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _files(tmp_path / "in", make, 60)
    run_dir = tmp_path / "run"
    killed = _killer(run_dir, after=20, kills=1, monkeypatch=monkeypatch)
    report = scan_files(paths, database_dir=DB, run_dir=run_dir, workers=2)
    assert len(killed) == 1
    assert report.restarts == 1
    states = {o.path.name: o.state for o in report.outcomes}
    assert [o.path for o in report.outcomes] == paths  # order kept
    assert states.pop("eicar.com") == INFECTED
    assert set(states.values()) == {CLEAN}, [o for o in report.outcomes if o.state != CLEAN]
    assert not (run_dir / "clamd.sock").exists()  # the restarted clamd stopped too
    new_pid_file = run_dir / "clamd.pid"
    assert not new_pid_file.exists() or int(new_pid_file.read_text()) != killed[0]


def test_a_clamd_that_keeps_dying_leaves_errors_not_clean_files(
    tmp_path: Path, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _files(tmp_path / "in", make, 30)
    run_dir = tmp_path / "run"
    monkeypatch.setattr(clamav, "CLAMD_RESTARTS", 1)
    killed = _killer(run_dir, after=5, kills=2, monkeypatch=monkeypatch)
    report = scan_files(paths, database_dir=DB, run_dir=run_dir, workers=1)
    assert len(killed) == 2  # the first clamd and the one restart
    assert report.restarts == 1
    assert report.errors, "files clamd never answered for must be errors"
    assert all(o.lost and "clamd" in (o.message or "") for o in report.errors)
    assert not [o for o in report.outcomes if o.state == CLEAN and o.lost]
