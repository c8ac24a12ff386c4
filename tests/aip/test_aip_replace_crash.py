"""Replacing a stored AIP (reingest) survives a SIGKILL between any two of its steps.

A child process runs the real *Store the AIP* replacement (``tests/aip/crash_child.py``)
and kills itself with SIGKILL right after one step. Then both futures a restart can
have are checked on the same wreck:

- abandoned: the unit is no longer PROCESSING and the store sweep of the reconciler
  recovers the leftovers on its own;
- resumed: the unit is still PROCESSING, the sweep leaves it alone, and the resumed
  ingest runs *Store the AIP* again.

Either way an AIP that verifies holds the final name, it is the old or the new
version, the Package row describes exactly it, and no leftover remains. With the
filesystem's atomic exchange the final name is never empty, even at the instant of
the kill.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

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
from custos.storage import add_location, default_location
from tasks import aipreplace
from tasks.aip_bag import build_aip_bag
from tasks.aipstore import Outcome, leftovers, stored_size, verify_stored_aip
from tasks.ingest import package
from tasks.ingest.sip import Sip, load_sip
from tasks.tools.compress import Compression

CHILD = Path(__file__).with_name("crash_child.py")


@dataclass(frozen=True)
class Versions:
    """A SIP whose old version is stored and whose new version is packaged."""

    sip: Sip
    old: package.Packaged
    new: package.Packaged
    location: Location

    @property
    def final(self) -> Path:
        return Path(self.location.path) / self.new.path.name

    def identities(self) -> tuple[str | None, str | None]:
        return aipreplace.identity(self.old.path), aipreplace.identity(self.new.path)


@pytest.fixture
def store(custos_home: Path, tmp_path: Path) -> Location:
    root = tmp_path / "store"
    root.mkdir()
    return add_location(LocationPurpose.AIP_STORAGE, root, "crash test store")


def _versions(store: Location, tmp_path: Path, method: Compression) -> Versions:
    """Store a first version of a fresh SIP, then package a second one (as reingest)."""
    uuid = new_uuid()
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    root = processing / f"crash-{uuid[:8]}"
    (root / "objects").mkdir(parents=True)
    (root / "objects" / "a.txt").write_text("kept through every crash\n")
    (root / f"METS.{uuid}.xml").write_text("<mets>first</mets>\n")
    with session_scope() as s:
        s.add(
            Unit(
                uuid=uuid,
                unit_type=UnitType.SIP,
                name="crash",
                current_path=str(root),
                status=UnitStatus.PROCESSING,
            )
        )
    sip = load_sip(uuid)
    packaged = []
    for label in ("old", "new"):
        work = tmp_path / label
        work.mkdir()
        bag = build_aip_bag(root, work, name="crash", sip_uuid=UUID(uuid)).path
        packaged.append(package.compress(bag, method, 1))
        (root / f"METS.{uuid}.xml").unlink()  # the bag may hold a hard link to it
        (root / f"METS.{uuid}.xml").write_text("<mets>reingested</mets>\n")
        (root / "objects" / "added.txt").write_text("a second version\n")
    old, new = packaged
    package.store(sip, old, store)
    package.remember(uuid, new)
    return Versions(sip, old, new, store)


def _crash(step: str, mode: str, versions: Versions) -> None:
    """Run the replacement in a child process killed after ``step``."""
    done = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            step,
            mode,
            "store",
            versions.sip.uuid,
            versions.location.uuid,
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -9, f"not killed after {step}: {done.stdout}{done.stderr}"


def _row(uuid: str) -> Package:
    with session_scope() as s:
        row = s.get(Package, uuid)
        assert row is not None
        s.expunge(row)
        return row


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_consistent(versions: Versions, allowed: set[str | None]) -> str | None:
    """An AIP verifies under the final name, is one of ``allowed`` and the row
    describes it; the store holds no leftover. Returns its identity."""
    final = versions.final
    row = _row(versions.sip.uuid)
    assert final.exists(), f"{final.name} is missing"
    found = aipreplace.identity(final)
    assert found in allowed
    check = verify_stored_aip(final, row.checksum)
    assert check.outcome is Outcome.PASS, check.problems
    assert row.status == PackageStatus.STORED and row.path == final.name
    assert row.size == stored_size(final)
    assert row.checksum == (_sha256(final) if final.is_file() else None)
    assert leftovers(Path(versions.location.path)) == []
    return found


def _set_unit(uuid: str, status: UnitStatus) -> None:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        unit.status = status


class Wreck:
    """The store and the Package row as a kill left them, to be put back at will."""

    def __init__(self, versions: Versions, tmp_path: Path) -> None:
        self.store = Path(versions.location.path)
        self.copy = tmp_path / "wreck"
        shutil.copytree(self.store, self.copy, symlinks=True)
        self.uuid = versions.sip.uuid
        self.row = _row(self.uuid)

    def restore(self) -> None:
        shutil.rmtree(self.store)
        shutil.copytree(self.copy, self.store, symlinks=True)
        with session_scope() as s:
            row = s.get(Package, self.uuid)
            assert row is not None
            row.size, row.checksum = self.row.size, self.row.checksum
            row.status, row.stored_at = self.row.status, self.row.stored_at
        _set_unit(self.uuid, UnitStatus.PROCESSING)


#: (compression, mode, step, the version under the final name after the sweep alone)
CASES = [
    (Compression.UNCOMPRESSED, "exchange", "staged", "old"),
    (Compression.UNCOMPRESSED, "exchange", "journaled", "old"),
    (Compression.UNCOMPRESSED, "exchange", "swapped", "new"),
    (Compression.UNCOMPRESSED, "exchange", "recorded", "new"),
    (Compression.UNCOMPRESSED, "rename", "journaled", "old"),
    (Compression.UNCOMPRESSED, "rename", "old-moved", "new"),
    (Compression.UNCOMPRESSED, "rename", "swapped", "new"),
    (Compression.TAR_GZ, "exchange", "journaled", "old"),
    (Compression.TAR_GZ, "exchange", "swapped", "new"),
    (Compression.TAR_GZ, "rename", "swapped", "new"),
    (Compression.TAR_GZ, "rename", "recorded", "new"),
]


@pytest.mark.parametrize(
    ("method", "mode", "step", "after_sweep"),
    CASES,
    ids=[f"{m.value}-{mode}-{step}" for m, mode, step, _ in CASES],
)
def test_a_kill_between_two_steps_never_loses_the_aip(
    store: Location, tmp_path: Path, method: Compression, mode: str, step: str, after_sweep: str
) -> None:
    versions = _versions(store, tmp_path, method)
    old, new = versions.identities()
    assert old != new
    _crash(step, mode, versions)
    if mode == "exchange":  # atomic exchange: not even the kill finds the name empty
        assert versions.final.exists()
    wreck = Wreck(versions, tmp_path)

    # Abandoned: the unit is not running any more; the sweep alone recovers.
    _set_unit(versions.sip.uuid, UnitStatus.FAILED)
    swept = package.sweep_leftovers(store)
    assert swept.kept == []
    found = _assert_consistent(versions, {old, new})
    assert found == {"old": old, "new": new}[after_sweep]

    # Resumed: the sweep keeps the running unit's leftovers; Store the AIP runs again.
    wreck.restore()
    swept = package.sweep_leftovers(store)
    assert swept.removed == swept.finished == swept.restored == []
    package.store(versions.sip, versions.new, store, replace=True)
    assert _assert_consistent(versions, {new}) == new


def test_without_a_crash_the_child_replaces_and_records(store: Location, tmp_path: Path) -> None:
    """The child really runs the replacement: a step name it never meets is no kill."""
    versions = _versions(store, tmp_path, Compression.UNCOMPRESSED)
    done = subprocess.run(
        [
            sys.executable,
            str(CHILD),
            "no-such-step",
            "rename",
            "store",
            versions.sip.uuid,
            store.uuid,
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _assert_consistent(versions, {versions.identities()[1]})


def test_a_lost_final_name_with_no_version_left_is_an_error(
    store: Location, tmp_path: Path
) -> None:
    """Both versions gone (someone deleted them by hand): said, not papered over."""
    from custos.errors import StorageError

    versions = _versions(store, tmp_path, Compression.UNCOMPRESSED)
    _crash("old-moved", "rename", versions)
    staging = aipreplace.staging_dir(Path(store.path), versions.sip.uuid)
    shutil.rmtree(staging / versions.final.name)
    shutil.rmtree(staging / f".old-{versions.final.name}")
    with pytest.raises(StorageError, match=f"{versions.final.name} is missing"):
        package.store(versions.sip, versions.new, store, replace=True)
    # The sweep says so on each pass and keeps the journal for an operator.
    _set_unit(versions.sip.uuid, UnitStatus.FAILED)
    assert package.sweep_leftovers(store).kept == [staging]
    assert (staging / aipreplace.JOURNAL).is_file()
