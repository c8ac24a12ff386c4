"""A full processing location or DIP store during packaging and storing (ENOSPC).

Small tmpfs filesystems mounted by the test (tests run as root) stand for a full
disk: bagging, compressing and storing fail in one line naming the location that is
full (and the bytes needed when known), nothing partial stays behind, the SIP keeps
its folder and its history, and once space is freed ``resume_unit`` finishes it.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from custos import dispatch
from custos.db import session_scope
from custos.errors import StorageError
from custos.models import Job, JobStatus, Location, Package, PackageStatus, Unit, UnitStatus
from custos.resume import resume_unit
from custos.storage import LocationPurpose, default_location
from custos.stored_aips import verify_aip_bag
from flows.ingest import ingest
from flows.steps import record_failure
from tasks import dipstore, space
from tasks.aipstore import verify_stored_aip
from tasks.ingest import package
from tasks.ingest.sip import load_sip
from tasks.tools.compress import Compression
from tests.api.test_fault_no_space import grow, tmpfs

from .conftest import AUTOMATED, SipFactory

BIG = 2 * 1024 * 1024  # random bytes: no compression makes them smaller
FILES: dict[str, Any] = {
    "objects/data.bin": lambda p: p.write_bytes(random.Random(7).randbytes(BIG)),
    "objects/notes.txt": "a SIP for a full disk\n",
}
OPTIONS = AUTOMATED | {"normalize": "none", "store_dip": False}


@pytest.fixture
def small_processing(tmp_path: Path, custos_home: Path) -> Iterator[Path]:
    """The processing location on a 3 MiB tmpfs (a 2 MiB SIP fits, its archive not)."""
    loc = default_location(LocationPurpose.CURRENTLY_PROCESSING)
    with tmpfs(tmp_path / "processing", "3m") as mounted:
        _move(loc.uuid, str(mounted))
        try:
            yield mounted
        finally:
            _move(loc.uuid, loc.path)


def _move(location_uuid: str, path: str) -> None:
    with session_scope() as s:
        s.execute(update(Location).where(col(Location.uuid) == location_uuid).values(path=path))


def _fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s filesystem; returns the filler file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as fh:
        for size in (65536, 4096, 1):
            try:
                while fh.write(b"\0" * size):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def test_a_bag_that_fills_processing_fails_saying_where(
    small_processing: Path, make_sip: SipFactory
) -> None:
    uuid, _ = make_sip({"objects/notes.txt": "small\n"}, name="bag", options=OPTIONS)
    sip = load_sip(uuid)
    filler = _fill(small_processing)
    with pytest.raises(space.NoSpace) as failed:
        package.build_bag(sip)
    text = str(failed.value)
    assert f"not enough space in the processing location ({small_processing})" in text
    assert "\n" not in text and "resume the unit" in text
    assert not package.work_dir(sip).exists()  # no partial bag
    filler.unlink()
    assert verify_aip_bag(package.build_bag(sip)).problems == []  # (no METS in this SIP)


@pytest.mark.parametrize("method", [Compression.SEVEN_Z_COPY, Compression.TAR_GZ])
def test_an_archive_that_fills_processing_fails_saying_where(
    method: Compression, small_processing: Path, make_sip: SipFactory
) -> None:
    uuid, _ = make_sip(FILES, name="archive", options=OPTIONS)
    bag = package.build_bag(load_sip(uuid))  # hard links: takes no room
    with pytest.raises(space.NoSpace) as failed:
        package.compress(bag, method, 1)
    text = str(failed.value)
    assert f"not enough space in the processing location ({small_processing})" in text
    assert "bytes needed" in text and "\n" not in text
    assert sorted(p.name for p in bag.parent.iterdir()) == [bag.name]  # nothing partial
    grow(small_processing, "16m")
    packaged = package.compress(bag, method, 1)
    assert verify_stored_aip(packaged.path, packaged.sha256, extract=True).problems == ()


def test_a_full_dip_store_fails_saying_where(tmp_path: Path) -> None:
    dip = tmp_path / "DIP"
    (dip / "objects").mkdir(parents=True)
    (dip / "objects" / "a.bin").write_bytes(os.urandom(BIG))
    with tmpfs(tmp_path / "dips", "1m") as store:
        with pytest.raises(StorageError) as failed:
            dipstore.store_dip_copy(dip, store, "dip-1", dipstore.manifest(dip))
        assert f"not enough space in the DIP store ({store})" in str(failed.value)
        assert list(store.iterdir()) == []
        grow(store, "8m")
        stored = dipstore.store_dip_copy(dip, store, "dip-1", dipstore.manifest(dip))
        assert dipstore.problems(stored.path, dipstore.manifest(dip)) == []


def test_any_step_meeting_a_full_location_says_which(
    small_processing: Path, make_sip: SipFactory
) -> None:
    """A step with no space check of its own: the unit's error names the location."""
    uuid, _ = make_sip({"objects/notes.txt": "small\n"}, name="any", options=OPTIONS)
    filler = _fill(small_processing)
    try:
        (small_processing / "more.txt").write_bytes(b"x" * 65536)
    except OSError as exc:
        record_failure(uuid, "Generate AIP METS", exc)
    filler.unlink()
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.FAILED
        assert unit.error is not None and "\n" not in unit.error
        assert unit.error.startswith(
            f"Generate AIP METS: no space left on the processing location ({small_processing})"
        ), unit.error


def test_a_sip_failed_by_a_full_processing_location_resumes_once_space_is_freed(
    small_processing: Path,
    make_sip: SipFactory,
    aip_store: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uuid, sip_dir = make_sip(FILES, name="full", options=OPTIONS)
    with pytest.raises(space.NoSpace):
        ingest.fn(uuid)
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.FAILED
        error = unit.error or ""
        done = s.exec(
            select(Job.name).where(
                col(Job.unit_uuid) == uuid, col(Job.status) == JobStatus.COMPLETE
            )
        ).all()
        assert s.get(Package, uuid) is None  # nothing counted as stored
    assert error.startswith("Prepare AIP: not enough space in the processing location"), error
    assert "Generate METS.xml document" in done and "Prepare AIP" in done  # history kept
    sip = load_sip(uuid)
    assert (sip.path / "objects" / "data.bin").stat().st_size == BIG  # files kept
    assert [p.name for p in aip_store.iterdir() if uuid in p.name] == []

    grow(small_processing, "16m")
    submitted: list[str] = []
    monkeypatch.setattr(dispatch, "submit", lambda flow, unit, **_: submitted.append(unit) or "r")
    resume_unit(uuid)
    assert submitted == [uuid]
    assert ingest.fn(uuid) == "complete"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
        prepared = s.exec(
            select(Job).where(col(Job.unit_uuid) == uuid, col(Job.name) == "Prepare AIP")
        ).all()
    assert len(prepared) == 1  # the verified bag was kept, not built again
    assert verify_stored_aip(aip_store / pkg.path, pkg.checksum, extract=True).problems == ()
    assert not sip_dir.exists() and list(small_processing.iterdir()) == []
