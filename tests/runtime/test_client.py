"""The CLI's view of the running service: the lock probe, serve.json, the backend
chosen, and Prefect submissions that fail in one line and leave no lost unit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from custos import dispatch
from custos.db import session_scope
from custos.errors import ConfigError, Conflict
from custos.models import Unit, UnitStatus, UnitType
from custos.runtime.client import (
    Mode,
    ServeInfo,
    choose_backend,
    running_serve,
    write_serve_info,
)
from custos.runtime.lock import HomeLock, lock_holder
from custos.settings import load_settings

HOLD = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from custos.runtime.lock import HomeLock\n"
    "with HomeLock(Path(sys.argv[1])):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(60)\n"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    monkeypatch.setenv("CUSTOS_HOME", str(home))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return home


@pytest.fixture
def held(home: Path) -> Any:
    """The home's serve lock held by another process (as a running serve holds it)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(home / "run")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_probe_tells_who_holds_the_lock_without_taking_it(home: Path, held: Any) -> None:
    run = home / "run"
    assert lock_holder(run) == held.pid
    with pytest.raises(Conflict, match=f"pid {held.pid}"):
        HomeLock(run).acquire()
    held.kill()
    held.wait()
    assert lock_holder(run) is None
    assert lock_holder(home / "nowhere") is None  # no lock file at all

    # probing in a loop never makes a serve starting meanwhile fail
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            lock_holder(run)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for _ in range(200):
            lock = HomeLock(run)
            lock.acquire()
            assert lock_holder(run) == os.getpid()
            lock.release()
    finally:
        stop.set()
        prober.join()


def test_running_serve_reads_what_the_lock_holder_published(home: Path, held: Any) -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match="is not ready after 0 s"):
        running_serve(settings, starting_wait=0)  # locked, nothing published yet
    stale = ServeInfo(
        pid=held.pid + 1, prefect_api_url="http://old/api", api_url="x", started_at="then"
    )
    write_serve_info(settings.run_dir, stale)  # left by a serve that was killed
    with pytest.raises(ConfigError, match="not ready"):
        running_serve(settings, starting_wait=0.5)
    info = ServeInfo(
        pid=held.pid,
        prefect_api_url="http://127.0.0.1:1/api",
        api_url="http://127.0.0.1:2",
        started_at="now",
    )
    write_serve_info(settings.run_dir, info)
    assert running_serve(settings) == info
    mode, backend = choose_backend(settings, wait=False, action="x")
    assert mode == Mode.SERVED and isinstance(backend, dispatch.PrefectBackend)
    assert backend.api_url == "http://127.0.0.1:1/api"
    held.kill()
    held.wait()
    assert running_serve(settings) is None  # serve.json without the lock means nothing


def test_without_a_serve_wait_runs_inline_and_otherwise_says_what_to_do(home: Path) -> None:
    settings = load_settings()
    assert choose_backend(settings, wait=True, action="x") == (
        Mode.INLINE,
        dispatch.inline_backend(),
    )
    with pytest.raises(ConfigError) as refused:
        choose_backend(settings, wait=False, action="run the transfer")
    message = str(refused.value)
    assert "\n" not in message and str(home) in message
    assert "custos serve" in message and "--wait to run the transfer" in message


def test_prefect_submissions_fail_in_one_line_and_leave_no_run_id(
    home: Path, prefect_server: str
) -> None:
    from custos.db import get_engine, migrate

    migrate(get_engine())
    with session_scope() as s:
        unit = Unit(unit_type=UnitType.TRANSFER, name="unsent", flow_run_id="old-run")
        s.add(unit)
        s.flush()
        uuid = unit.uuid
    for url, expected in (
        (prefect_server, "has no deployment transfer/custos"),  # a server without it
        ("http://127.0.0.1:9/api", "cannot start transfer through Prefect at"),  # no server
    ):
        dispatch.set_backend(dispatch.PrefectBackend(url))
        try:
            with pytest.raises(ConfigError) as failed:
                dispatch.submit("transfer", uuid)
        finally:
            dispatch.set_backend(None)
        assert expected in str(failed.value) and "\n" not in str(failed.value)
        with session_scope() as s:
            row = s.get(Unit, uuid)
            assert row is not None and row.flow_run_id is None  # never submitted, not lost
            assert row.status == UnitStatus.PROCESSING
