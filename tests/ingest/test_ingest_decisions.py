"""Decisions, compression variants, failures and interrupted stores of the ingest flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from custos import decisions
from custos.db import session_scope
from custos.errors import ToolFailed
from custos.models import (
    Event,
    File,
    Job,
    LocationPurpose,
    Package,
    PackageStatus,
    Task,
    Unit,
    UnitStatus,
)
from custos.recorder import Recorder
from custos.storage import default_location
from flows.ingest import ingest
from tasks.aipstore import verify_stored_aip

from .conftest import AUTOMATED, SipFactory, make_png


def _status(uuid: str) -> UnitStatus:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return UnitStatus(unit.status)


def _answer(uuid: str, name: str, choice: str) -> None:
    pending = decisions.pending(uuid, name)
    assert pending is not None, f"{name} is not waiting"
    decisions.answer(pending.job_uuid, choice, resubmit=False)


def _derivatives(uuid: str) -> list[Path]:
    """Preservation copies of the SIP on disk, by their rows."""
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        rows = s.exec(
            select(File).where(col(File.sip_uuid) == uuid, col(File.use) == "preservation")
        ).all()
        return [Path(unit.current_path or "") / f.current_path for f in rows]


def _normalization_events(uuid: str) -> int:
    with session_scope() as s:
        return len(
            s.exec(
                select(Event).where(
                    col(Event.unit_uuid) == uuid, col(Event.event_type) == "normalization"
                )
            ).all()
        )


def test_default_config_asks_and_resumes(make_sip: SipFactory, aip_store: Path) -> None:
    uuid, _ = make_sip(
        {"objects/a.png": make_png}, name="asks", options={"compression_algorithm": "tar.gz"}
    )
    assert ingest.fn(uuid) == "wait"
    assert _status(uuid) == UnitStatus.USER_INPUT
    _answer(uuid, "Normalize", "612e3609-ce9a-4df6-a9a3-63d634d2d934")  # preservation
    assert ingest.fn(uuid) == "wait"
    pending = decisions.pending(uuid, "Approve normalization")
    assert pending is not None
    assert [c["label"] for c in pending.choices] == ["Yes", "Redo", "Reject"]
    first = _derivatives(uuid)
    assert len(first) == 1 and first[0].is_file()
    # Redo: the derivative and its events go, the Normalize question comes back.
    _answer(uuid, "Approve normalization", "cbe9b4a3-e4e6-4a32-8d7c-3adfc409cb6f")
    assert ingest.fn(uuid) == "wait"
    assert decisions.pending(uuid, "Normalize") is not None
    assert _derivatives(uuid) == [] and not first[0].exists()
    assert _normalization_events(uuid) == 0
    _answer(uuid, "Normalize", "612e3609-ce9a-4df6-a9a3-63d634d2d934")
    assert ingest.fn(uuid) == "wait"
    second = _derivatives(uuid)
    assert len(second) == 1 and second[0].is_file() and second[0] != first[0]
    assert _normalization_events(uuid) == 1
    assert decisions.pending(uuid, "Approve normalization") is not None
    _answer(uuid, "Approve normalization", "1e0df175-d56d-450d-8bee-7df1dc7ae815")
    assert ingest.fn(uuid) == "wait"
    reminder = decisions.pending(uuid, "Reminder: add metadata if desired")
    assert reminder is not None and [c["label"] for c in reminder.choices] == ["Continue"]
    _answer(uuid, "Reminder: add metadata if desired", "5727faac-88af-40e8-8c10-268644b0142d")
    assert ingest.fn(uuid) == "wait"
    transcribe = decisions.pending(uuid, "Transcribe SIP contents?")
    assert transcribe is not None and [c["label"] for c in transcribe.choices] == ["Yes", "No"]
    _answer(uuid, "Transcribe SIP contents?", "0a24787c-00e3-4710-b324-90e792bfb484")  # No
    assert ingest.fn(uuid) == "wait"
    _answer(uuid, "Store AIP", "9efab23c-31dc-4cbd-a39d-bb1665460cbe")
    assert ingest.fn(uuid) == "wait"
    location = decisions.pending(uuid, "Store AIP location")
    assert location is not None
    _answer(uuid, "Store AIP location", location.choices[0]["id"])
    assert ingest.fn(uuid) == "complete"
    assert _status(uuid) == UnitStatus.COMPLETE
    with session_scope() as s:
        names = [
            j.name
            for j in s.exec(select(Job).where(col(Job.unit_uuid) == uuid).order_by(col(Job.seq)))
        ]
    assert names.count("Normalize for preservation") == 2  # once per round, not per resume
    assert names.count("Remove preservation and access files") == 1
    assert names[-1] == "Remove the processing directory"
    assert (aip_store / f"asks-{uuid}.tar.gz").is_file()


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("7z-copy", ".7z"),
        ("7z-bzip2", ".7z"),
        ("7z-lzma", ".7z"),
        ("tar.gz", ".tar.gz"),
        ("tar.bz2", ".tar.bz2"),
        ("uncompressed", ""),
    ],
)
def test_compression_variants(
    make_sip: SipFactory, aip_store: Path, method: str, suffix: str
) -> None:
    options = AUTOMATED | {
        "normalize": "none",
        "compression_algorithm": method,
        "compression_level": 1,
    }
    uuid, _ = make_sip({"objects/a.txt": "hello\n"}, name=f"c{method}", options=options)
    assert ingest.fn(uuid) == "complete"
    stored = aip_store / f"c{method}-{uuid}{suffix}"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
        assert pkg.compression == method.replace("uncompressed", "none")
        assert pkg.path == stored.name
        events = [e.event_type for e in s.exec(select(Event).where(col(Event.unit_uuid) == uuid))]
    assert verify_stored_aip(stored, pkg.checksum, extract=True).problems == ()
    assert ("compression" in events) == (method != "uncompressed")


def test_failed_normalization_fails_the_sip(make_sip: SipFactory) -> None:
    uuid, _ = make_sip(
        {"objects/bad.jpg": "not a JPEG at all"},
        name="bad",
        options=AUTOMATED | {"normalize": "preservation"},
    )
    with session_scope() as s:  # identified as JPEG by the transfer, but broken
        for f in s.exec(select(File).where(col(File.sip_uuid) == uuid)):
            f.puid = "fmt/43"
    with pytest.raises(ToolFailed):
        ingest.fn(uuid)
    assert _status(uuid) == UnitStatus.FAILED
    with session_scope() as s:
        job = s.exec(
            select(Job).where(
                col(Job.unit_uuid) == uuid, col(Job.name) == "Normalize for thumbnails"
            )
        ).one()
        tasks = list(s.exec(select(Task).where(col(Task.job_uuid) == job.uuid)))
    assert job.status == "FAILED"
    assert [t.exit_code for t in tasks] == [1] and tasks[0].stderr


def test_interrupted_store_is_finished_on_rerun(make_sip: SipFactory, aip_store: Path) -> None:
    options = AUTOMATED | {"normalize": "none", "store_aip": None}
    uuid, _ = make_sip({"objects/a.txt": "keep me\n"}, name="crash", options=options)
    assert ingest.fn(uuid) == "wait"  # Store AIP asked: the package is built
    _answer(uuid, "Store AIP", "9efab23c-31dc-4cbd-a39d-bb1665460cbe")
    final = aip_store / f"crash-{uuid}.7z"
    # What a killed copy leaves: a partial temporary file, a STORING row, a running job.
    (aip_store / f".tmp-0badc0de-{final.name}").write_bytes(b"7z partial")
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        s.add(
            Package(
                uuid=uuid,
                name=f"crash-{uuid}",
                path=final.name,
                location_uuid=default_location(LocationPurpose.AIP_STORAGE).uuid,
                status=PackageStatus.STORING,
            )
        )
    Recorder().start_job(uuid, "Store AIP", "Store the AIP")
    assert not final.exists()
    assert ingest.fn(uuid) == "complete"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED and pkg.checksum
    assert not list(aip_store.glob(f".tmp-*{uuid}*"))
    assert verify_stored_aip(final, pkg.checksum, extract=True).problems == ()
