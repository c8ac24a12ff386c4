"""Storing AIPs atomically, cleaning interrupted stores, auditing stored copies."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from custos.errors import FixityMismatch, InvalidInput, StorageError
from tasks import aipstore
from tasks.aip_bag import BagResult
from tasks.aipstore import (
    Outcome,
    clean_leftovers,
    leftovers,
    store_aip,
    verify_stored_aip,
)
from tasks.tools.compress import Compression, CompressionResult, compress_aip


@pytest.fixture
def archive(bag: BagResult, tmp_path: Path) -> CompressionResult:
    out = tmp_path / "packaged"
    out.mkdir()
    return compress_aip(bag.path, out, method=Compression.TAR_GZ)


def test_store_archive(archive: CompressionResult, tmp_path: Path) -> None:
    store = tmp_path / "store"
    stored = store_aip(archive.path, store, expected_sha256=archive.sha256)
    assert stored.path == store / archive.path.name
    assert stored.sha256 == archive.sha256 and stored.size == archive.size
    assert leftovers(store) == []
    check = verify_stored_aip(stored.path, archive.sha256, extract=True)
    assert check.outcome is Outcome.PASS and check.problems == ()


def test_store_directory(bag: BagResult, tmp_path: Path) -> None:
    store = tmp_path / "store"
    stored = store_aip(bag.path, store)
    assert stored.path.is_dir() and stored.sha256 is None
    assert verify_stored_aip(stored.path).outcome is Outcome.PASS
    with pytest.raises(StorageError, match="already stored"):
        store_aip(bag.path, store)


def test_store_directory_fsyncs_every_entry_before_the_rename(
    bag: BagResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file and folder of the stored copy is fsync'ed (in a pool), then renamed."""
    store = tmp_path / "store"
    synced: list[str] = []
    real_fsync, real_rename = os.fsync, os.rename
    renamed: list[int] = []

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        renamed.append(len(synced))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    stored = store_aip(bag.path, store)
    entries = [Path(d) / n for d, dirs, files in os.walk(stored.path) for n in dirs + files]
    (tmp,) = {Path(p) for p in synced if Path(p).parent == store.resolve()}
    assert tmp.name.startswith(".tmp-")
    before_rename = {
        Path(p).relative_to(tmp) for p in synced[: renamed[0]] if Path(p).is_relative_to(tmp)
    }
    assert {e.relative_to(stored.path) for e in entries} | {Path(".")} == before_rename
    assert stored.size == sum(e.stat().st_size for e in entries if e.is_file())


def test_failed_verification_leaves_nothing(archive: CompressionResult, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(FixityMismatch):
        store_aip(archive.path, store, expected_sha256="0" * 64)
    assert list(store.iterdir()) == []


def test_invalid_bag_is_not_stored(bag: BagResult, tmp_path: Path) -> None:
    (bag.path / "data/objects/extra.txt").write_text("not in the manifest")
    store = tmp_path / "store"
    with pytest.raises(InvalidInput) as info:
        store_aip(bag.path, store)
    assert any("extra.txt" in d for d in info.value.details)
    assert list(store.iterdir()) == []


def test_interrupted_store_is_cleaned(
    bag: BagResult, archive: CompressionResult, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    # A crash mid-copy: a partial bag and a truncated archive under temporary names.
    partial = store / f".tmp-0badc0de-{bag.path.name}"
    shutil.copytree(bag.path, partial)
    (partial / "data/logs/fileFormatIdentification.log").unlink()
    truncated = store / f".tmp-deadbeef-{archive.path.name}"
    truncated.write_bytes(archive.path.read_bytes()[:100])
    assert not (store / bag.path.name).exists() and not (store / archive.path.name).exists()
    assert leftovers(store) == sorted([partial, truncated])
    result = clean_leftovers(
        store, finish=True, grace_seconds=0, expected_sha256=lambda _name: archive.sha256
    )
    assert sorted(result.removed) == sorted([partial, truncated]) and result.finished == []
    assert list(store.iterdir()) == []


def test_complete_leftover_is_finished(
    bag: BagResult, archive: CompressionResult, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copytree(bag.path, store / f".tmp-01234567-{bag.path.name}")
    shutil.copyfile(archive.path, store / f".tmp-89abcdef-{archive.path.name}")
    result = clean_leftovers(
        store, finish=True, grace_seconds=0, expected_sha256=lambda _name: archive.sha256
    )
    assert sorted(result.finished) == sorted([store / bag.path.name, store / archive.path.name])
    assert leftovers(store) == []


def test_audit_detects_archive_corruption(archive: CompressionResult, tmp_path: Path) -> None:
    stored = store_aip(archive.path, tmp_path / "store", expected_sha256=archive.sha256)
    blob = bytearray(stored.path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    stored.path.write_bytes(bytes(blob))
    check = verify_stored_aip(stored.path, archive.sha256)
    assert check.outcome is Outcome.FAIL
    assert "sha256 mismatch" in check.problems[0] and check.sha256 != archive.sha256


def test_audit_detects_bag_damage_inside_archive(bag: BagResult, tmp_path: Path) -> None:
    (bag.path / "data/objects/docs/report.txt").unlink()
    (bag.path / "data/objects/docs/report.txt").write_text("tampered before packaging\n")
    packaged = compress_aip(bag.path, tmp_path, method=Compression.TAR_BZ2)
    check = verify_stored_aip(packaged.path, packaged.sha256, extract=True)
    assert check.outcome is Outcome.FAIL
    assert any("report.txt" in p for p in check.problems)


def test_audit_of_directory_and_missing(bag: BagResult, tmp_path: Path) -> None:
    (bag.path / "data/objects/docs/report.txt").unlink()
    check = verify_stored_aip(bag.path)
    assert check.outcome is Outcome.FAIL and any("report.txt" in p for p in check.problems)
    assert verify_stored_aip(tmp_path / "nope.7z").outcome is Outcome.FAIL


def _age(path: Path, seconds: float) -> None:
    """Make every entry of a leftover look ``seconds`` old."""
    when = time.time() - seconds
    for entry in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(entry, (when, when), follow_symlinks=False)


def test_clean_by_name_touches_only_that_aip(archive: CompressionResult, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    mine = store / f".tmp-00000001-{archive.path.name}"
    theirs = store / ".tmp-00000002-other-aip.7z"
    mine.write_bytes(b"partial")
    theirs.write_bytes(b"another ingest is still writing this")
    _age(theirs, 7200)  # even an old one of another AIP is not ours to touch
    result = clean_leftovers(store, name=archive.path.name)
    assert result.removed == [mine] and not mine.exists()
    assert theirs.read_bytes() == b"another ingest is still writing this"


def test_store_wide_sweep_spares_recent_and_busy_copies(
    bag: BagResult, archive: CompressionResult, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    fresh = store / ".tmp-0000000a-fresh.7z"
    fresh.write_bytes(b"being written right now")
    busy = store / ".tmp-0000000b-busy.7z"
    busy.write_bytes(b"old, but its unit is storing it")
    _age(busy, 7200)
    growing = store / f".tmp-0000000c-{bag.path.name}"
    shutil.copytree(bag.path, growing)
    _age(growing, 7200)
    (growing / "data" / "objects" / "still-copying.bin").write_bytes(b"x")  # inner: recent
    dead = store / ".tmp-0000000d-dead.7z"
    dead.write_bytes(b"a crashed copy")
    _age(dead, 7200)
    result = clean_leftovers(store, in_use={"busy.7z"}.__contains__)
    assert result.removed == [dead] and not dead.exists()
    assert sorted(result.kept) == sorted([fresh, busy, growing])
    assert fresh.exists() and busy.exists() and growing.is_dir()


def test_store_on_the_same_filesystem_links_and_reads_back(
    archive: CompressionResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One filesystem: the archive is hard-linked into the store (no second copy of its
    bytes), and its digest is still read back through the store's name before the
    rename."""
    store = tmp_path / "store"
    read_back: list[Path] = []
    real = aipstore.file_sha256

    def file_sha256(path: Path) -> str:
        read_back.append(path)
        return real(path)

    monkeypatch.setattr(aipstore, "file_sha256", file_sha256)
    stored = store_aip(archive.path, store, expected_sha256=archive.sha256)
    assert stored.path.stat().st_ino == archive.path.stat().st_ino
    assert archive.path.stat().st_nlink == 2
    assert [p.name.startswith(".tmp-") and p.parent == store for p in read_back] == [True]
    assert stored.sha256 == archive.sha256 and leftovers(store) == []


def test_linked_archive_that_does_not_verify_is_not_stored(
    archive: CompressionResult, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    with pytest.raises(FixityMismatch):
        store_aip(archive.path, store, expected_sha256="0" * 64)
    assert list(store.iterdir()) == []
    assert archive.path.stat().st_nlink == 1  # the packaged AIP is untouched


def test_store_directory_on_the_same_filesystem_links_every_file(
    bag: BagResult, tmp_path: Path
) -> None:
    stored = store_aip(bag.path, tmp_path / "store")
    for path in bag.path.rglob("*"):
        if path.is_file():
            copy = stored.path / path.relative_to(bag.path)
            assert copy.stat().st_ino == path.stat().st_ino
    assert verify_stored_aip(stored.path).outcome is Outcome.PASS


def test_linked_bag_that_does_not_verify_is_not_stored(bag: BagResult, tmp_path: Path) -> None:
    """A payload file changed after bagging: the linked copy fails validation."""
    (bag.path / "data/logs/fileFormatIdentification.log").write_text("changed\n")
    store = tmp_path / "store"
    with pytest.raises(InvalidInput):
        store_aip(bag.path, store)
    assert list(store.iterdir()) == []


def test_store_across_filesystems_copies(
    archive: CompressionResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """link() refused (another filesystem): the archive is copied, then read back."""

    def no_link(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    stored = store_aip(archive.path, tmp_path / "store", expected_sha256=archive.sha256)
    assert stored.path.stat().st_ino != archive.path.stat().st_ino
    assert stored.path.read_bytes() == archive.path.read_bytes()


@pytest.mark.parametrize("method", [Compression.SEVEN_Z_COPY, Compression.UNCOMPRESSED])
def test_packaging_starts_writing_the_aip_to_disk(
    bag: BagResult, method: Compression, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As soon as the AIP is packaged, every file of it is fsync'ed in the background."""
    from tasks.ingest import package

    synced: list[Path] = []
    real_fsync = os.fsync
    started: list[threading.Thread] = []
    real_start = aipstore.start_writeback

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def start(path: Path) -> threading.Thread:
        started.append(real_start(path))
        return started[-1]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(aipstore, "start_writeback", start)
    packaged = package.compress(bag.path, method, 1)
    for thread in started:
        thread.join()
    files = [packaged.path] if packaged.path.is_file() else list(packaged.path.rglob("*"))
    assert files and {f.resolve() for f in files if f.is_file()} <= set(synced)
