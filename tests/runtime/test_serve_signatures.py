"""``custos serve`` tells the operator at start-up when virus signatures are test-only.

The real command runs in a subprocess, as an operator starts it. Once its checks
have passed and it says it is starting the Prefect server, the test stops it with
Ctrl-C (SIGINT), and it must exit cleanly.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custos.runtime.preflight import free_port

pytestmark = pytest.mark.server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Operator defaults on a fresh home: no signature folder named, no freshclam."""
    env = dict(os.environ)
    for name in (
        "CUSTOS_DATABASE_URL",
        "PREFECT_API_URL",
        "CUSTOS_DISPATCH",
        "CUSTOS_CLAMAV_DATABASE",
    ):
        env.pop(name, None)
    (tmp_path / "home").mkdir()
    env.update(
        CUSTOS_HOME=str(tmp_path / "home"),
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
        CUSTOS_CLAMAV_SYSTEM_DATABASE=str(tmp_path / "var-lib-clamav"),
        COLUMNS="400",
    )
    return env


def _start_up_messages(env: dict[str, str], timeout: float = 90) -> str:
    """What ``custos serve`` prints before it starts the Prefect server (lines joined)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    text = ""
    try:
        deadline = time.monotonic() + timeout
        while "starting the Prefect server" not in text:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve exited {proc.returncode} or hung: {text}")
            if select.select([proc.stderr], [], [], 0.5)[0]:
                text += os.read(proc.stderr.fileno(), 65536).decode()
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in text
    return re.sub(r"\s+", " ", text)


def test_serve_warns_about_test_only_signatures_and_refused_checks(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["CUSTOS_CLAMAV_REQUIRE_OFFICIAL"] = "true"
    text = _start_up_messages(env)
    assert (
        "warning: virus signatures are test-only (no official signatures: "
        f"{tmp_path / 'var-lib-clamav'} does not exist)"
    ) in text
    assert "install the official signatures with freshclam" in text
    assert (
        "error: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set: every virus check will fail its "
        "transfer or ingest until official signatures are installed"
    ) in text
    assert text.index("warning: virus signatures") < text.index("starting the Prefect")


def test_serve_names_official_signatures(env: dict[str, str], tmp_path: Path) -> None:
    system = tmp_path / "var-lib-clamav"
    system.mkdir()
    for name, version in (("main", 62), ("daily", 27577)):
        header = (
            f"ClamAV-VDB:14 Mar 2025 06-12 -0400:{version}:2074301:90:"
            "0123456789abcdef0123456789abcdef:AAAA:raynman:1741947120"
        )
        (system / f"{name}.cvd").write_bytes(header.encode().ljust(512) + b"\0" * 64)
    text = _start_up_messages(env)
    assert (
        f"virus signatures: official in {system} (main 62 (14 Mar 2025 06:12 -0400), "
        "daily 27577 (14 Mar 2025 06:12 -0400))"
    ) in text
    assert "test-only" not in text
    assert "the daily ClamAV signatures are" in text  # built long before today: stale
