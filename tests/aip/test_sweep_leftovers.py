"""The store-wide sweep of interrupted stores (``tasks.ingest.package.sweep_leftovers``).

Each case is a real ``.tmp-*`` copy of a real packaged AIP in its own AIP location,
with the Package and Unit rows a crashed or a running ingest leaves behind.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from custos.db import session_scope
from custos.models import (
    Location,
    LocationPurpose,
    Package,
    PackageStatus,
    Unit,
    UnitStatus,
    UnitType,
    new_uuid,
)
from custos.storage import add_location
from tasks import aipreplace
from tasks.aip_bag import BagResult
from tasks.aipstore import TMP_PREFIX, leftovers, verify_stored_aip
from tasks.ingest.package import sweep_leftovers
from tasks.tools.compress import Compression, CompressionResult, compress_aip

HOUR = 3600.0


@pytest.fixture
def store(custos_home: Path, tmp_path: Path) -> Location:
    root = tmp_path / "store"
    root.mkdir()
    return add_location(LocationPurpose.AIP_STORAGE, root, "sweep test store")


@pytest.fixture
def archive(bag: BagResult, tmp_path: Path) -> CompressionResult:
    out = tmp_path / "packaged"
    out.mkdir()
    return compress_aip(bag.path, out, method=Compression.TAR_GZ)


def _leftover(
    store: Location, source: Path, final: str, *, age: float = 2 * HOUR, token: str = "0badc0de"
) -> Path:
    """An interrupted copy of ``source`` meant to become ``final``, ``age`` seconds old."""
    tmp = Path(store.path) / f"{TMP_PREFIX}{token}-{final}"
    if source.is_dir():
        shutil.copytree(source, tmp)
        paths = [tmp, *tmp.rglob("*")]
    else:
        shutil.copyfile(source, tmp)
        paths = [tmp]
    when = time.time() - age
    for p in paths:
        os.utime(p, (when, when))
    return tmp


def _rows(
    store: Location, final: str, *, checksum: str | None, unit_status: UnitStatus | None
) -> str:
    """A STORING Package for ``final`` (and its SIP unit when a status is given)."""
    uuid = new_uuid()
    with session_scope() as s:
        if unit_status is not None:
            s.add(Unit(uuid=uuid, unit_type=UnitType.SIP, name="swept", status=unit_status))
        s.add(
            Package(
                uuid=uuid,
                package_type="AIP",
                name=final,
                location_uuid=store.uuid,
                path=final,
                checksum=checksum,
                compression="tar.gz",
                status=PackageStatus.STORING,
            )
        )
    return uuid


def test_an_old_verified_copy_of_a_dead_ingest_is_finished(
    store: Location, archive: CompressionResult
) -> None:
    final = "crashed-1.tar.gz"
    _rows(store, final, checksum=archive.sha256, unit_status=UnitStatus.FAILED)
    tmp = _leftover(store, archive.path, final)
    result = sweep_leftovers(store)
    assert result.finished == [Path(store.path) / final] and not result.removed
    assert not tmp.exists() and leftovers(Path(store.path)) == []
    assert verify_stored_aip(Path(store.path) / final, archive.sha256, extract=True).problems == ()


def test_a_copy_of_an_ingest_still_storing_is_kept(
    store: Location, archive: CompressionResult
) -> None:
    final = "running-1.tar.gz"
    _rows(store, final, checksum=archive.sha256, unit_status=UnitStatus.PROCESSING)
    tmp = _leftover(store, archive.path, final)
    result = sweep_leftovers(store)
    assert result.kept == [tmp] and not result.finished and not result.removed
    assert tmp.read_bytes() == archive.path.read_bytes()
    assert not (Path(store.path) / final).exists()


def test_a_recent_copy_is_kept_whoever_owns_it(store: Location, archive: CompressionResult) -> None:
    tmp = _leftover(store, archive.path, "fresh-1.tar.gz", age=60)
    result = sweep_leftovers(store)
    assert result.kept == [tmp] and tmp.exists()
    # With a shorter grace period the same copy (no Package proves it) is removed.
    result = sweep_leftovers(store, grace_seconds=30)
    assert result.removed == [tmp] and not tmp.exists()


def test_damaged_or_unprovable_copies_are_removed(
    store: Location, archive: CompressionResult
) -> None:
    damaged_final, orphan_final = "damaged-1.tar.gz", "orphan-1.tar.gz"
    _rows(store, damaged_final, checksum=archive.sha256, unit_status=None)
    damaged = _leftover(store, archive.path, damaged_final, token="00000001")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    old = time.time() - 2 * HOUR
    os.utime(damaged, (old, old))
    orphan = _leftover(store, archive.path, orphan_final, token="00000002")
    result = sweep_leftovers(store)
    assert sorted(result.removed) == sorted([damaged, orphan]) and not result.finished
    assert leftovers(Path(store.path)) == []
    assert not (Path(store.path) / damaged_final).exists()
    assert not (Path(store.path) / orphan_final).exists()


def test_a_stored_aip_is_never_replaced_by_a_leftover(
    store: Location, bag: BagResult, archive: CompressionResult
) -> None:
    final = "stored-1.tar.gz"
    _rows(store, final, checksum=archive.sha256, unit_status=UnitStatus.COMPLETE)
    stored = Path(store.path) / final
    shutil.copyfile(archive.path, stored)
    before = stored.read_bytes()
    tmp = _leftover(store, archive.path, final)
    result = sweep_leftovers(store)
    assert result.removed == [tmp] and stored.read_bytes() == before
    # A bag directory left over (uncompressed AIP) verifies as a bag and is finished.
    dir_final = "bag-1"
    tmp_dir = _leftover(store, bag.path, dir_final, token="00000003")
    result = sweep_leftovers(store)
    assert result.finished == [Path(store.path) / dir_final] and not tmp_dir.exists()
    assert (Path(store.path) / dir_final / "bagit.txt").is_file()


def test_a_finished_leftover_is_synced_before_its_rename(
    store: Location, bag: BagResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file and folder of a copy the sweep finishes is fsync'ed, then renamed."""
    tmp = _leftover(store, bag.path, "synced-1", token="00000004")
    synced: list[Path] = []
    renames: list[tuple[Path, int]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: Any, dst: Any) -> None:
        renames.append((Path(src), len(synced)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    final = Path(store.path) / "synced-1"
    assert sweep_leftovers(store).finished == [final]
    ((source, count),) = renames
    assert source == tmp
    entries = {
        Path(d, n).relative_to(final) for d, dirs, files in os.walk(final) for n in dirs + files
    }
    assert entries | {Path(".")} == {
        p.relative_to(tmp) for p in synced[:count] if p.is_relative_to(tmp)
    }
    assert Path(store.path).resolve() in synced[count:]


def test_an_old_version_is_put_back_when_it_is_the_only_one(
    store: Location, bag: BagResult
) -> None:
    """``.old-<name>`` (a replacement interrupted between its two renames): put back at
    once when the final name is empty, removed after the grace period otherwise, and
    left alone while its unit runs."""
    root = Path(store.path)
    uuid = _rows(store, "only-1", checksum=None, unit_status=UnitStatus.FAILED)
    lone = _leftover(store, bag.path, "", age=60)
    lone = lone.rename(root / ".old-only-1")
    result = sweep_leftovers(store)
    assert result.restored == [root / "only-1"] and not lone.exists()
    assert verify_stored_aip(root / "only-1").problems == ()

    shutil.copytree(bag.path, root / ".old-only-1")
    assert sweep_leftovers(store).kept == [root / ".old-only-1"]  # recent, final present
    assert sweep_leftovers(store, grace_seconds=0).removed == [root / ".old-only-1"]
    assert (root / "only-1" / "bagit.txt").is_file()

    busy = _rows(store, "busy-1", checksum=None, unit_status=UnitStatus.PROCESSING)
    shutil.copytree(bag.path, root / ".old-busy-1")
    assert sweep_leftovers(store, grace_seconds=0).kept == [root / ".old-busy-1"]
    assert not (root / "busy-1").exists() and uuid != busy


def test_a_replacement_locked_by_a_live_process_is_kept(store: Location) -> None:
    root = Path(store.path)
    staging = aipreplace.staging_dir(root, new_uuid())  # no unit: nobody runs it
    with aipreplace.locked(staging) as mine:
        assert mine
        (staging / "partial").write_text("being copied")
        assert sweep_leftovers(store).kept == [staging]
        assert (staging / "partial").exists()
    result = sweep_leftovers(store)
    assert result.removed == [staging] and not staging.exists()
    assert leftovers(root) == []
