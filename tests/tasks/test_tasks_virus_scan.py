"""Real clamd and clamscan with the shipped custom signature database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from custos.errors import ConfigError
from custos.settings import PACKAGE_DATA
from tasks.tools.clamav import Clamd, ClamscanScanner, scan_files

DB = PACKAGE_DATA / "clamav"


@pytest.fixture
def samples(make) -> dict[str, Path]:
    return {
        "eicar": make.bytes("eicar.com", make.eicar),
        "embedded": make.bytes("doc.txt", b"prefix " + make.eicar + b" suffix"),
        "marker": make.bytes("sub dir/marked é.bin", b"\x00data " + make.marker + b" more"),
        "clean": make.bytes("clean.txt", b"nothing to see here\n"),
        "empty": make.bytes("empty", b""),
    }


@pytest.fixture
def clamd(tmp_path: Path) -> Iterator[Clamd]:
    with Clamd(tmp_path / "run", DB) as daemon:
        yield daemon


def _states(report) -> dict[str, tuple[str, str | None]]:
    states = {o.path.name: (o.state, o.signature) for o in report.outcomes}
    # The whole-file hash and the body signature both match EICAR; either may win.
    state, sig = states["eicar.com"]
    assert sig in {"Custos.Test.EICAR.HDB.UNOFFICIAL", "Custos.Test.EICAR.NDB.UNOFFICIAL"}
    states["eicar.com"] = (state, "EICAR")
    return states


EXPECTED = {
    "eicar.com": ("infected", "EICAR"),
    "doc.txt": ("infected", "Custos.Test.EICAR.NDB.UNOFFICIAL"),
    "marked é.bin": ("infected", "Custos.Test.Marker.NDB.UNOFFICIAL"),
    "clean.txt": ("clean", None),
    "empty": ("clean", None),
}


@pytest.mark.parametrize("stream", [False, True])
def test_clamd_detects_and_passes(clamd: Clamd, samples: dict[str, Path], stream: bool) -> None:
    report = clamd.scanner(stream=stream).scan_files(samples.values())
    assert _states(report) == EXPECTED
    assert report.engine == "ClamAV (clamd)"
    assert report.version is not None and report.version.startswith("ClamAV 1.")
    assert report.definitions == "custom"
    assert report.event_detail == (
        f'program="ClamAV (clamd)"; version="{report.version}"; virusDefinitions="custom"'
    )
    clean = next(o for o in report.outcomes if o.path.name == "clean.txt")
    assert clean.premis_outcome == "Pass" and clean.note == ""
    bad = report.infected[0]
    assert bad.premis_outcome == "Fail" and "Custos.Test" in bad.note


def test_clamd_missing_file_and_non_utf8_name(clamd: Clamd, tmp_path: Path, make) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9.com"
    with open(raw, "wb") as fh:
        fh.write(make.eicar)
    report = clamd.scanner().scan_files([os.fsdecode(raw), tmp_path / "missing.txt"])
    first, second = report.outcomes
    assert first.state == "infected"
    assert second.state == "error" and second.message
    assert report.errors == [second]


def test_clamscan_fallback(samples: dict[str, Path]) -> None:
    report = ClamscanScanner(DB).scan_files(samples.values())
    assert _states(report) == EXPECTED
    assert report.engine == "ClamAV (clamscan)" and report.definitions == "custom"


def test_clamscan_fallback_non_utf8_and_colon_names(tmp_path: Path, make) -> None:
    bad = os.fsencode(tmp_path) + b"/caf\xe9.com"
    with open(bad, "wb") as fh:
        fh.write(make.eicar)
    clean = os.fsencode(tmp_path) + b"/r\xe9sum\xe9: notes.txt"
    with open(clean, "wb") as fh:
        fh.write(b"plain text\n")
    report = ClamscanScanner(DB).scan_files(
        [os.fsdecode(bad), os.fsdecode(clean), tmp_path / "missing.txt"]
    )
    first, second, third = report.outcomes
    assert os.fsencode(first.path) == bad
    assert first.state == "infected" and first.signature is not None
    assert "EICAR" in first.signature
    assert os.fsencode(second.path) == clean and second.state == "clean"
    assert third.state == "error" and third.message


def test_scan_files_chooses_clamd_or_clamscan(
    clamd: Clamd, samples: dict[str, Path], tmp_path: Path
) -> None:
    via_clamd = scan_files([samples["eicar"]], database_dir=DB, socket_path=clamd.socket_path)
    assert via_clamd.engine == "ClamAV (clamd)"
    fallback = scan_files([samples["eicar"]], database_dir=DB, socket_path=tmp_path / "none.sock")
    assert fallback.engine == "ClamAV (clamscan)"
    assert fallback.outcomes[0].state == "infected"


def test_clamd_stop_leaves_no_process(tmp_path: Path) -> None:
    daemon = Clamd(tmp_path / "run", DB)
    daemon.start()
    assert daemon.process is not None
    pid = daemon.process.pid
    assert daemon.scanner().ping()
    daemon.stop()
    daemon.stop()  # idempotent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not daemon.socket_path.exists()
    assert "clamd.sock" in (tmp_path / "run" / "clamd.conf").read_text()


def test_clamd_refuses_empty_database(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    with pytest.raises(ConfigError, match="no ClamAV signature"):
        Clamd(tmp_path / "run", tmp_path / "db").start()


def test_each_shipped_signature_file_works_alone(tmp_path: Path, samples: dict[str, Path]) -> None:
    for name, expected in [
        ("custos.hdb", "Custos.Test.EICAR.HDB.UNOFFICIAL"),
        ("custos.ndb", "Custos.Test.EICAR.NDB.UNOFFICIAL"),
    ]:
        db = tmp_path / name.replace(".", "_")
        db.mkdir()
        (db / name).write_bytes((DB / name).read_bytes())
        [outcome] = ClamscanScanner(db).scan_files([samples["eicar"]]).outcomes
        assert (outcome.state, outcome.signature) == ("infected", expected)


def test_clamd_and_clamscan_run_without_sbin_on_path(
    tmp_path: Path, samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-root user's PATH has no /usr/sbin, where Debian puts clamd."""
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    with Clamd(tmp_path / "run", DB) as daemon:
        assert daemon.process is not None and daemon.process.args[0] == "/usr/sbin/clamd"
        report = daemon.scanner().scan_files([samples["eicar"]])
    assert report.engine == "ClamAV (clamd)" and report.outcomes[0].state == "infected"
    fallback = scan_files([samples["eicar"]], database_dir=DB)
    assert fallback.engine == "ClamAV (clamscan)" and fallback.outcomes[0].state == "infected"


def test_clamd_in_a_deep_run_directory_still_scans(tmp_path: Path, samples) -> None:
    """A home deep in the file system gives a run directory whose socket path is longer
    than a Unix socket allows: the socket goes to a private short folder instead, and is
    gone with it when clamd stops."""
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "run"
    daemon = Clamd(deep, DB)
    assert len(os.fsencode(deep / "clamd.sock")) > 108
    with daemon:
        assert len(os.fsencode(daemon.socket_path)) <= 100
        report = daemon.scanner().scan_files([samples["eicar"], samples["clean"]])
        states = {o.path.name: o.state for o in report.outcomes}
        assert states == {"eicar.com": "infected", "clean.txt": "clean"}
    assert not daemon.socket_path.parent.exists()


def test_clamd_in_a_deep_run_directory_restarts(tmp_path: Path, samples) -> None:
    """Restarting a clamd whose socket lives in a private folder (stop() removes that
    folder) gives it a new folder: the restarted clamd answers."""
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "run"
    daemon = Clamd(deep, DB)
    with daemon:
        first = daemon.socket_path
        daemon.restart()
        assert daemon.alive() and daemon.socket_path.exists()
        report = daemon.scanner().scan_files([samples["eicar"]])
        assert report.outcomes[0].state == "infected"
    assert not first.parent.exists() and not daemon.socket_path.parent.exists()
