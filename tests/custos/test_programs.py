"""Finding and running programs: the PATH first, then the system folders a
non-root user's PATH lacks (Debian installs clamd as /usr/sbin/clamd)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from custos.errors import ToolFailed
from custos.programs import SYSTEM_DIRS, run, search_path, tool_version, which

#: A non-root user's PATH on Debian: no sbin folder.
USER_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def user_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PATH", USER_PATH)
    tool_version.cache_clear()
    yield
    tool_version.cache_clear()


def test_a_program_in_usr_sbin_is_found_without_sbin_on_path(user_path: None) -> None:
    assert Path("/usr/sbin/clamd").is_file()  # the system tool check guarantees it
    assert which("clamd") == "/usr/sbin/clamd"
    result = run(["clamd", "--version"], check=True)
    assert result.args[0] == "clamd"  # recorded as called
    assert "ClamAV" in result.stdout
    assert tool_version("clamd")


def test_the_path_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "clamd"
    own.write_text("#!/bin/sh\necho 'ClamAV 9.9.9 (own)'\n")
    own.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{USER_PATH}")
    assert which("clamd") == str(own)
    assert run(["clamd"], check=True).stdout.strip() == "ClamAV 9.9.9 (own)"


def test_search_path_adds_each_missing_system_folder_once(user_path: None) -> None:
    entries = search_path().split(os.pathsep)
    assert entries[:3] == USER_PATH.split(":")
    assert sorted(set(entries)) == sorted(entries)
    assert set(SYSTEM_DIRS) <= set(entries)
    assert entries.index("/usr/sbin") > entries.index("/bin")


def test_a_missing_program_is_none_and_fails_to_run(user_path: None) -> None:
    assert which("no-such-program-custos") is None
    with pytest.raises(ToolFailed, match="command not found"):
        run(["no-such-program-custos"])
