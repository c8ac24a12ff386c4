"""The background virus scan: started after compliance, collected by step 8.

Nothing is skipped: a file changed after it was prescanned is scanned again at
step 8, even when its size and modification time were put back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import Event, File, Unit, UnitStatus
from custos.settings import PACKAGE_DATA, get_settings
from custos.transfers import start_transfer
from flows.transfer import STEPS, run_transfer
from tasks.tools.clamav import Clamd
from tasks.transfer import virus
from tasks.transfer.compliance import verify_compliance
from tasks.transfer.move_to_processing import move_to_processing

from .conftest import EICAR, make_sample


def _events(unit_uuid: str, event_type: str) -> list[Event]:
    with session_scope() as s:
        return list(
            s.exec(
                select(Event).where(
                    col(Event.unit_uuid) == unit_uuid, col(Event.event_type) == event_type
                )
            ).all()
        )


@pytest.fixture
def fresh_scans(monkeypatch: pytest.MonkeyPatch) -> list[list[Path]]:
    """Record the paths step 8 scans itself (those the prescan did not settle)."""
    calls: list[list[Path]] = []
    real = virus.scan

    def spy(ctx: virus.TransferContext, paths: list[Path]) -> virus.ScanReport:
        calls.append(list(paths))
        return real(ctx, paths)

    monkeypatch.setattr(virus, "scan", spy)
    return calls


def _prescanned(uuid: str) -> virus.Prescan:
    assert move_to_processing.fn(uuid) == "continue"
    assert verify_compliance.fn(uuid) == "continue"
    assert virus.start_prescan(uuid)
    pre = virus._prescans[uuid]
    pre.wait()
    return pre


def _rest(uuid: str) -> None:
    for step in STEPS[1:]:
        if step.fn(uuid) != "continue":
            break


def test_prescan_result_is_collected_at_step_8(tmp_path, dispatched, fresh_scans):
    src = make_sample(tmp_path / "s")
    (src / "bundle.zip").unlink()  # extracted files get their own (fresh) scan
    uuid = start_transfer("pre", src, processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    assert fresh_scans == []  # every file was settled by the background scan
    assert virus._prescans == {}
    with session_scope() as s:
        objects = s.exec(
            select(File).where(col(File.unit_uuid) == uuid, col(File.use) == "original")
        ).all()
    checks = _events(uuid, "virus check")
    assert {e.file_uuid for e in checks} >= {f.uuid for f in objects}
    assert all(e.outcome == "Pass" and "ClamAV" in e.detail for e in checks)


def test_file_changed_after_prescan_is_rescanned(tmp_path, dispatched, fresh_scans):
    src = tmp_path / "s"
    src.mkdir()
    (src / "a.txt").write_bytes(b"c" * len(EICAR))
    (src / "b.txt").write_text("untouched\n")
    uuid = start_transfer("changed", src, processing_config="automated")
    pre = _prescanned(uuid)
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        target = Path(unit.current_path or "") / "objects" / "a.txt"
    assert pre.outcomes[target.absolute()].state == "clean"
    before = os.stat(target)
    target.write_bytes(EICAR)  # same size; put the mtime back: only ctime tells
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(InvalidInput, match="a.txt"):
        _rest(uuid)
    assert [[p.name for p in paths] for paths in fresh_scans] == [["a.txt"]]
    fails = [e for e in _events(uuid, "virus check") if e.outcome == "Fail"]
    assert len(fails) == 1 and "EICAR" in fails[0].outcome_note


def test_prescan_finds_infected_file_and_fails_at_step_8(tmp_path, dispatched, fresh_scans):
    src = make_sample(tmp_path / "s")
    (src / "bundle.zip").unlink()
    (src / "eicar.com").write_bytes(EICAR)
    uuid = start_transfer("bad", src, processing_config="automated")
    with pytest.raises(InvalidInput, match="eicar.com"):
        run_transfer(uuid, use_prefect=False)
    assert fresh_scans == []
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.FAILED


def test_no_prescan_when_the_configuration_says_no(tmp_path, dispatched):
    from custos.processing import LINKS, load_named, named_path, read_file

    src = make_sample(tmp_path / "s")
    text = named_path("automated").read_text()
    for link in LINKS:
        if link.field == "virus_scanning":
            text = text.replace(link.choices[True], link.choices[False])
    (src / "processingMCP.xml").write_text(text)
    uuid = start_transfer("no-scan", src, processing_config="automated")
    assert load_named("automated").virus_scanning is True
    assert read_file(src / "processingMCP.xml").virus_scanning is False
    assert move_to_processing.fn(uuid) == "continue"
    assert verify_compliance.fn(uuid) == "continue"
    assert not virus.start_prescan(uuid)
    assert uuid not in virus._prescans


def test_abandoned_prescan_is_cancelled(tmp_path, dispatched):
    src = make_sample(tmp_path / "s")
    uuid = start_transfer("gone", src, processing_config="automated")
    assert move_to_processing.fn(uuid) == "continue"
    assert verify_compliance.fn(uuid) == "continue"
    assert virus.start_prescan(uuid)
    pre = virus._prescans[uuid]
    virus.cancel_prescan(uuid)
    assert uuid not in virus._prescans
    assert pre._thread is not None and not pre._thread.is_alive()
    assert pre._clamd is None or pre._clamd.process is None


@pytest.fixture
def operators_clamd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clamd]:
    """A clamd of the operator's, named by CUSTOS_CLAMD_SOCKET."""
    with Clamd(tmp_path / "operator", PACKAGE_DATA / "clamav") as clamd:
        monkeypatch.setenv("CUSTOS_CLAMD_SOCKET", str(clamd.socket_path))
        get_settings.cache_clear()
        yield clamd
    monkeypatch.delenv("CUSTOS_CLAMD_SOCKET")
    get_settings.cache_clear()


def test_prescan_scans_with_the_operators_clamd(tmp_path, dispatched, operators_clamd):
    """The prescan's clamd is the one step 8 would choose: the operator's, no private one."""
    src = tmp_path / "s"
    src.mkdir()
    (src / "a.txt").write_text("plain\n")
    (src / "eicar.com").write_bytes(EICAR)
    uuid = start_transfer("operator", src, processing_config="automated")
    pre = _prescanned(uuid)
    virus.cancel_prescan(uuid)
    assert pre.failure is None and pre.report is not None
    assert {p.name: o.state for p, o in pre.outcomes.items()} == {
        "a.txt": "clean",
        "eicar.com": "infected",
    }
    assert pre._clamd is None  # none of its own started
    assert not list(get_settings().run_dir.glob(f"clamd-pre-*-{uuid[:8]}"))


def test_prescan_cancelled_before_its_clamd_starts_starts_none(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain\n")
    pre = virus.Prescan(
        unit_uuid="0" * 36,
        paths=[tmp_path / "a.txt"],
        workers=1,
        database_dir=PACKAGE_DATA / "clamav",
        socket_path=None,
        run_dir=tmp_path / "run",
    )
    pre.cancelled.set()
    pre.start()
    pre.wait()
    assert pre._clamd is not None and pre._clamd.process is None
    assert not (tmp_path / "run" / "clamd.conf").exists()  # never configured nor started
    assert pre.report is None and pre.failure is None and pre.outcomes == {}
