"""Transfers scanned with the default signatures of a machine without official ones.

Real clamd, real flow: the default falls back on the shipped test set, every
*virus check* event says ``signatures="test-only"``, EICAR is still caught, and
``CUSTOS_CLAMAV_REQUIRE_OFFICIAL`` fails the transfer at *Scan for viruses*
with a message an operator can act on, before anything is scanned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import ConfigError, InvalidInput
from custos.models import Event, Job, JobStatus, Unit, UnitStatus
from custos.settings import get_settings
from custos.transfers import start_transfer
from flows.transfer import run_transfer
from tests.support.recording import RecordingBackend
from tests.support.samples import EICAR


@pytest.fixture()
def no_official(
    recorded_runs: RecordingBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """An operator's defaults on a machine where freshclam never ran."""
    system = tmp_path / "var-lib-clamav"
    system.mkdir()
    monkeypatch.delenv("CUSTOS_CLAMAV_DATABASE")
    monkeypatch.setenv("CUSTOS_CLAMAV_SYSTEM_DATABASE", str(system))
    get_settings.cache_clear()
    yield system
    monkeypatch.undo()
    get_settings.cache_clear()


def _source(root: Path, **files: bytes) -> Path:
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


def _digest(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}


def _events(unit_uuid: str) -> list[Event]:
    with session_scope() as s:
        return list(
            s.exec(
                select(Event).where(
                    col(Event.unit_uuid) == unit_uuid, col(Event.event_type) == "virus check"
                )
            ).all()
        )


def _job(unit_uuid: str, name: str) -> Job:
    with session_scope() as s:
        return s.exec(
            select(Job).where(col(Job.unit_uuid) == unit_uuid, col(Job.name) == name)
        ).one()


def _unit(unit_uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        return unit


def test_every_virus_check_event_says_test_only(no_official: Path, tmp_path: Path) -> None:
    src = _source(tmp_path / "letters", **{"a.txt": b"one\n", "b.txt": b"two\n"})
    uuid = start_transfer("letters", src, processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    events = _events(uuid)
    assert len(events) == 2 and {e.outcome for e in events} == {"Pass"}
    for event in events:
        assert event.detail.startswith('program="ClamAV (clamd)"; version="ClamAV ')
        assert event.detail.endswith('; virusDefinitions="custom"; signatures="test-only"')


def test_the_test_set_still_catches_eicar(no_official: Path, tmp_path: Path) -> None:
    src = _source(tmp_path / "bad", **{"eicar.com": EICAR, "fine.txt": b"fine\n"})
    uuid = start_transfer("bad", src, processing_config="automated")
    with pytest.raises(InvalidInput, match=r"objects/eicar.com: Custos.Test.EICAR"):
        run_transfer(uuid, use_prefect=False)
    failed = next(e for e in _events(uuid) if e.outcome == "Fail")
    assert failed.detail.endswith('signatures="test-only"')


def test_require_official_fails_the_transfer_before_scanning(
    no_official: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOS_CLAMAV_REQUIRE_OFFICIAL", "true")
    get_settings.cache_clear()
    src = _source(tmp_path / "strict", **{"eicar.com": EICAR, "fine.txt": b"fine\n"})
    before = _digest(src)
    uuid = start_transfer("strict", src, processing_config="automated")
    with pytest.raises(ConfigError, match="CUSTOS_CLAMAV_REQUIRE_OFFICIAL"):
        run_transfer(uuid, use_prefect=False)

    unit = _unit(uuid)
    assert unit.status == UnitStatus.FAILED
    assert unit.error == (
        "Scan for viruses: virus check refused: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set and "
        "only test signatures are available (no official signatures: no main.cvd or "
        f"main.cld in {no_official}); install the official ones with freshclam (see "
        "docs/virus-signatures.md)"
    )
    job = _job(uuid, "Scan for viruses in directories")
    assert job.status == JobStatus.FAILED and "CUSTOS_CLAMAV_REQUIRE_OFFICIAL" in job.output
    assert _events(uuid) == []  # nothing was scanned, so nothing claims a check
    assert _digest(src) == before


def test_an_external_clamd_is_judged_by_its_own_reply(
    no_official: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's clamd (here: one on the test set) is refused by what it reports."""
    from tasks.tools.clamav import Clamd

    with Clamd(tmp_path / "run", Path(__file__).parents[2] / "custos/data/clamav") as clamd:
        monkeypatch.setenv("CUSTOS_CLAMD_SOCKET", str(clamd.socket_path))
        monkeypatch.setenv("CUSTOS_CLAMAV_REQUIRE_OFFICIAL", "true")
        get_settings.cache_clear()
        src = _source(tmp_path / "ext", **{"a.txt": b"a\n"})
        uuid = start_transfer("ext", src, processing_config="automated")
        with pytest.raises(
            ConfigError,
            match=r"ClamAV \(clamd\) reports no official "
            r"definitions version",
        ):
            run_transfer(uuid, use_prefect=False)
    assert _unit(uuid).status == UnitStatus.FAILED
    assert _events(uuid) == []  # its results are not recorded as checks
