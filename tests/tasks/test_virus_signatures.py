"""Choosing ClamAV signatures: official ones when installed, else the test set, said so.

This machine has no official database (no internet), so the official side is a
fake layout of files with real ``ClamAV-VDB`` headers: enough for the selection
logic, which reads headers, never names alone. The real test-only path runs end
to end in ``test_virus_signatures_transfer.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from custos.errors import ConfigError
from custos.settings import Settings, load_settings
from custos.virus_signatures import (
    OFFICIAL,
    TEST_ONLY,
    TEST_SIGNATURES,
    health_fields,
    inspect_database,
    read_header,
    refusal,
    select_database,
    startup_messages,
)
from tasks.tools.clamav import ScanReport, judge_signatures, usable_database

BUILT = datetime(2025, 3, 14, 10, 12, tzinfo=UTC)


def write_cvd(path: Path, version: int, built_at: datetime = BUILT) -> Path:
    """A database file with the header freshclam's downloads carry (then a body)."""
    header = (
        f"ClamAV-VDB:14 Mar 2025 06-12 -0400:{version}:2074301:90:"
        f"0123456789abcdef0123456789abcdef:AAAA:raynman:{int(built_at.timestamp())}"
    )
    path.write_bytes(header.encode().ljust(512, b" ") + os.urandom(64))
    return path


def official_layout(folder: Path, built_at: datetime = BUILT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_cvd(folder / "main.cvd", 62, built_at)
    write_cvd(folder / "daily.cvd", 27500, built_at)
    write_cvd(folder / "daily.cld", 27577, built_at)  # freshclam's incremental update
    write_cvd(folder / "bytecode.cvd", 335, built_at)
    return folder


def settings(**overrides: object) -> Settings:
    """Settings as an operator's environment gives them (nothing named by default)."""
    base: dict[str, object] = {
        "clamav_database": None,
        "clamav_system_database": Path("/nonexistent/clamav"),
    }
    base.update(overrides)
    return load_settings(**base)


def test_header_is_read_as_sigtool_prints_it(tmp_path: Path) -> None:
    header = read_header(write_cvd(tmp_path / "daily.cvd", 27577))
    assert header is not None
    assert (header.name, header.version, header.signatures, header.level, header.builder) == (
        "daily",
        27577,
        2074301,
        90,
        "raynman",
    )
    assert header.built == "14 Mar 2025 06:12 -0400" and header.built_at == BUILT
    if shutil.which("sigtool"):  # ClamAV's own reading of the same header agrees
        info = subprocess.run(
            ["sigtool", "--info", str(tmp_path / "daily.cvd")],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert "Version: 27577" in info and "Build time: 14 Mar 2025 06:12 -0400" in info


def test_official_layout_is_recognised_newest_version_first(tmp_path: Path) -> None:
    db = inspect_database(official_layout(tmp_path / "clamav"))
    assert db.status == OFFICIAL and db.reason == ""
    assert db.version == (
        "main 62 (14 Mar 2025 06:12 -0400), daily 27577 (14 Mar 2025 "
        "06:12 -0400), bytecode 335 (14 Mar 2025 06:12 -0400)"
    )
    assert db.daily is not None and db.daily.file == "daily.cld"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda d: (d / "daily.cvd").unlink() or (d / "daily.cld").unlink(),
            "no daily.cvd or daily.cld in",
        ),
        (
            lambda d: (d / "main.cvd").write_bytes(os.urandom(4096)),
            "main.cvd in {d} is not a ClamAV database",
        ),
        (
            lambda d: (d / "main.cvd").write_bytes((d / "main.cvd").read_bytes()[:512]),
            "main.cvd in {d} is not a ClamAV database",
        ),  # a header without signatures
        (
            lambda d: (d / "main.cvd").write_bytes(b"ClamAV-VDB:x:0:0:0:x:x::0".ljust(600)),
            "main.cvd in {d} is not a ClamAV database",
        ),
    ],
)
def test_names_alone_are_not_official(tmp_path: Path, damage, reason: str) -> None:
    folder = official_layout(tmp_path / "clamav")
    damage(folder)
    db = inspect_database(folder)
    assert db.status == TEST_ONLY and db.version is None
    assert reason.format(d=folder) in db.reason


def test_a_header_with_an_impossible_build_time_still_reads(tmp_path: Path) -> None:
    path = write_cvd(tmp_path / "daily.cvd", 27577)
    data = path.read_bytes().replace(b":1741947120", b":99999999999999999999", 1)
    path.write_bytes(data)
    header = read_header(path)
    assert header is not None and header.version == 27577 and header.built_at is None


def test_bytecode_is_optional_and_custom_files_do_not_count(tmp_path: Path) -> None:
    folder = official_layout(tmp_path / "clamav")
    (folder / "bytecode.cvd").unlink()
    shutil.copytree(TEST_SIGNATURES, folder, dirs_exist_ok=True)  # local extras: fine
    assert inspect_database(folder).version == (
        "main 62 (14 Mar 2025 06:12 -0400), daily 27577 (14 Mar 2025 06:12 -0400)"
    )
    assert (
        inspect_database(TEST_SIGNATURES).reason == f"no main.cvd or main.cld in {TEST_SIGNATURES}"
    )


def test_default_is_the_system_database_when_official(tmp_path: Path) -> None:
    system = official_layout(tmp_path / "var-lib-clamav")
    db = select_database(settings(clamav_system_database=system))
    assert (db.status, db.directory, db.named) == (OFFICIAL, system, False)
    assert settings().clamav_system_database == Path("/nonexistent/clamav")
    assert load_settings(clamav_database=None).clamav_system_database == Path("/var/lib/clamav")


def test_default_falls_back_on_the_test_set_and_says_why(tmp_path: Path) -> None:
    empty = tmp_path / "var-lib-clamav"
    empty.mkdir()
    db = select_database(settings(clamav_system_database=empty))
    assert (db.status, db.directory) == (TEST_ONLY, TEST_SIGNATURES)
    assert db.reason == f"no official signatures: no main.cvd or main.cld in {empty}"
    db = select_database(settings())
    assert db.reason == "no official signatures: /nonexistent/clamav does not exist"


def test_a_named_folder_wins_and_is_judged_by_its_content(tmp_path: Path) -> None:
    system = official_layout(tmp_path / "system")
    named = select_database(
        settings(clamav_database=TEST_SIGNATURES, clamav_system_database=system)
    )
    assert (named.status, named.directory, named.named) == (TEST_ONLY, TEST_SIGNATURES, True)
    mirror = official_layout(tmp_path / "mirror")  # e.g. a private mirror's copy
    assert select_database(settings(clamav_database=mirror)).status == OFFICIAL


def test_require_official_refuses_only_without_official_signatures(tmp_path: Path) -> None:
    required = settings(clamav_require_official=True)
    message = refusal(required, select_database(required))
    assert message is not None
    assert message.startswith("virus check refused: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set")
    assert "/nonexistent/clamav does not exist" in message and "freshclam" in message
    with pytest.raises(ConfigError, match="CUSTOS_CLAMAV_REQUIRE_OFFICIAL"):
        usable_database(required)
    assert refusal(settings(), select_database(settings())) is None
    ok = settings(
        clamav_require_official=True, clamav_system_database=official_layout(tmp_path / "clamav")
    )
    assert refusal(ok, select_database(ok)) is None
    assert usable_database(ok).official


def test_health_fields(tmp_path: Path) -> None:
    assert health_fields(settings()) == {
        "virus_signatures": "test-only",
        "virus_signatures_version": None,
        "virus_checks": "ok",
    }
    assert health_fields(settings(clamav_require_official=True))["virus_checks"] == "refused"
    official = health_fields(settings(clamav_system_database=official_layout(tmp_path / "c")))
    assert official["virus_signatures"] == "official" and official["virus_checks"] == "ok"
    assert "daily 27577" in (official["virus_signatures_version"] or "")


def test_startup_messages(tmp_path: Path) -> None:
    [warning] = startup_messages(settings())
    assert warning.startswith(
        "warning: virus signatures are test-only (no official "
        "signatures: /nonexistent/clamav does not exist)"
    )
    assert str(TEST_SIGNATURES) in warning and "docs/virus-signatures.md" in warning
    assert "which detects only the EICAR test file and Custos' test marker" in warning
    custom = tmp_path / "custom"
    shutil.copytree(TEST_SIGNATURES, custom)  # an operator's own, unofficial folder
    [warning] = startup_messages(settings(clamav_database=custom))
    assert warning.startswith(
        f"warning: virus signatures are test-only (no main.cvd or "
        f"main.cld in {custom}): scans use {custom}, which holds no "
        "official ClamAV signatures"
    )
    _, error = startup_messages(settings(clamav_require_official=True))
    assert error.startswith("error: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set")
    fresh = settings(clamav_system_database=official_layout(tmp_path / "c"))
    assert startup_messages(fresh, now=BUILT + timedelta(days=1)) == [
        f"virus signatures: official in {tmp_path / 'c'} ({select_database(fresh).version})"
    ]
    stale = startup_messages(fresh, now=BUILT + timedelta(days=30))
    assert stale[1] == (
        "warning: the daily ClamAV signatures are 30 days old: is freshclam "
        "running? (see docs/virus-signatures.md)"
    )


def _report(definitions: str | None, engine: str = "ClamAV (clamd)") -> ScanReport:
    return ScanReport(engine, "ClamAV 1.4.6", definitions)


def test_event_detail_keeps_archivematica_keys_and_flags_test_only(tmp_path: Path) -> None:
    official = select_database(settings(clamav_system_database=official_layout(tmp_path / "c")))
    report = _report("27577/Fri Mar 14 10:12:00 2025")
    judge_signatures(report, settings(), official)
    assert report.signatures == OFFICIAL
    assert report.event_detail == (
        'program="ClamAV (clamd)"; version="ClamAV 1.4.6"; '
        'virusDefinitions="27577/Fri Mar 14 10:12:00 2025"'
    )
    report = _report("custom")
    judge_signatures(report, settings(), select_database(settings()))
    assert report.event_detail == (
        'program="ClamAV (clamd)"; version="ClamAV 1.4.6"; '
        'virusDefinitions="custom"; signatures="test-only"'
    )


def test_official_needs_both_the_folder_and_clamav_reporting_definitions(tmp_path: Path) -> None:
    official = select_database(settings(clamav_system_database=official_layout(tmp_path / "c")))
    report = _report(None)  # an official folder ClamAV loaded no daily from
    judge_signatures(report, settings(), official)
    assert report.signatures == TEST_ONLY
    with pytest.raises(ConfigError, match="reports no official definitions version"):
        judge_signatures(_report(None), settings(clamav_require_official=True), official)


def test_an_external_clamd_is_judged_by_its_own_reply(tmp_path: Path) -> None:
    external = settings(clamd_socket=tmp_path / "clamd.sock", clamav_require_official=True)
    folder = select_database(external)  # test-only: not what that clamd loaded
    assert usable_database(external) == folder  # no refusal before asking it
    report = _report("27577/Fri Mar 14 10:12:00 2025")
    judge_signatures(report, external, folder)
    assert report.signatures == OFFICIAL
    with pytest.raises(
        ConfigError,
        match=r"ClamAV \(clamd\) reports no official "
        r"definitions version \(ClamAV 1.4.6\)",
    ):
        judge_signatures(_report("custom"), external, folder)
    # its fallback, clamscan, loads our folder: judged by the folder
    with pytest.raises(ConfigError, match="only test signatures are available"):
        judge_signatures(_report("27577/x", "ClamAV (clamscan)"), external, folder)
