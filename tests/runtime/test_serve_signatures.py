"""``custos serve`` tells the operator at start-up when virus signatures are test-only.

The command runs for real (in-process, typer's CliRunner); its API port is held
by the test so it stops right after the start-up checks, before any server.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custos.cli import app
from custos.runtime.preflight import free_port

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home with operator defaults: no signature folder named, no freshclam."""
    home = tmp_path / "home"
    monkeypatch.setenv("CUSTOS_HOME", str(home))
    monkeypatch.delenv("CUSTOS_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("CUSTOS_CLAMAV_DATABASE")
    monkeypatch.setenv("CUSTOS_CLAMAV_SYSTEM_DATABASE", str(tmp_path / "var-lib-clamav"))
    monkeypatch.setenv("CUSTOS_PREFECT_PORT", str(free_port()))
    assert runner.invoke(app, ["init", "--json"]).exit_code == 0
    return home


def _serve_stderr() -> str:
    """Run ``custos serve`` on a busy port; its stderr, lines unwrapped."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    text = re.sub(r"\s+", " ", result.stderr)
    assert f"port {port} on 127.0.0.1 (API) is already in use" in text
    return text


def test_serve_warns_about_test_only_signatures(home: Path, tmp_path: Path) -> None:
    text = _serve_stderr()
    assert (
        "warning: virus signatures are test-only (no official signatures: "
        f"{tmp_path / 'var-lib-clamav'} does not exist)"
    ) in text
    assert "install the official signatures with freshclam" in text
    assert "CUSTOS_CLAMAV_REQUIRE_OFFICIAL" not in text


def test_serve_says_checks_will_fail_when_official_ones_are_required(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOS_CLAMAV_REQUIRE_OFFICIAL", "true")
    text = _serve_stderr()
    assert (
        "error: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set: every virus check will fail its "
        "transfer or ingest until official signatures are installed"
    ) in text


def test_serve_names_official_signatures(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "var-lib-clamav"
    system.mkdir()
    for name, version in (("main", 62), ("daily", 27577)):
        header = (
            f"ClamAV-VDB:14 Mar 2025 06-12 -0400:{version}:2074301:90:"
            "0123456789abcdef0123456789abcdef:AAAA:raynman:1741947120"
        )
        (system / f"{name}.cvd").write_bytes(header.encode().ljust(512) + b"\0" * 64)
    text = _serve_stderr()
    assert (
        f"virus signatures: official in {system} (main 62 (14 Mar 2025 06:12 -0400), "
        "daily 27577 (14 Mar 2025 06:12 -0400))"
    ) in text
    assert "test-only" not in text
    assert "the daily ClamAV signatures are" in text  # built long before today: stale
