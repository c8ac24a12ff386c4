"""The copy into processing hashes what it writes; step 5 reuses those digests.

Each file is read once on its way into custody; *Assign checksums and file sizes*
records the digest the copy took, unless the file is not the one copied any more.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.models import File, UnitStatus
from custos.transfers import start_transfer
from flows.transfer import run_transfer
from tasks.transfer import copy_digests, identifiers
from tasks.transfer import move_to_processing as mtp
from tasks.transfer.copy_digests import CopyDigests, lookup, remember


def _source(root: Path) -> dict[str, bytes]:
    files = {
        "small.txt": b"small\n",
        "empty.bin": b"",
        "sub/large.bin": os.urandom(3 * 1024 * 1024 + 5),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_copy_hashes_every_file_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    monkeypatch.setattr(mtp, "_PIPELINED", 1024 * 1024)  # the large file: hashed beside
    monkeypatch.setattr(mtp, "HASHED_FROM", 0)  # and every small one too
    files = _source(tmp_path / "src")
    digests = CopyDigests(algorithm)
    mtp.copy_in(tmp_path / "src", tmp_path / "dest", digests)
    remember("unit-a", digests)
    for rel, data in files.items():
        copy = tmp_path / "dest" / rel
        assert copy.read_bytes() == data
        assert lookup("unit-a", copy, algorithm) == (
            len(data),
            hashlib.new(algorithm, data).hexdigest(),
        )
    assert len(digests.files) == 3


def test_small_files_are_left_to_step_5(tmp_path: Path) -> None:
    """Below ``HASHED_FROM`` the copy hashes nothing: step 5's pool reads them."""
    _source(tmp_path / "src")
    digests = CopyDigests("sha256")
    mtp.copy_in(tmp_path / "src", tmp_path / "dest", digests)
    remember("unit-e", digests)
    assert lookup("unit-e", tmp_path / "dest" / "small.txt", "sha256") is None
    assert lookup("unit-e", tmp_path / "dest" / "sub" / "large.bin", "sha256") is not None


def test_digest_follows_a_rename_not_a_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mtp, "HASHED_FROM", 0)
    _source(tmp_path / "src")
    digests = CopyDigests("sha256")
    mtp.copy_in(tmp_path / "src", tmp_path / "dest", digests)
    remember("unit-b", digests)
    dest = tmp_path / "dest"
    (dest / "objects").mkdir()
    os.rename(dest / "small.txt", dest / "objects" / "small.txt")  # as compliance moves
    moved = dest / "objects" / "small.txt"
    assert lookup("unit-b", moved, "sha256") == (6, hashlib.sha256(b"small\n").hexdigest())
    assert lookup("unit-b", moved, "md5") is None  # another algorithm: hash it
    assert lookup("unit-c", moved, "sha256") is None  # another transfer
    moved.write_bytes(b"SMALL\n")  # same size, new bytes: a new modification time
    assert lookup("unit-b", moved, "sha256") is None
    (dest / "sub" / "large.bin").unlink()
    (dest / "sub" / "large.bin").write_bytes(b"replaced")
    assert lookup("unit-b", dest / "sub" / "large.bin", "sha256") is None
    copy_digests.forget("unit-b")
    assert lookup("unit-b", dest / "empty.bin", "sha256") is None


def _checksums(uuid: str) -> dict[str, tuple[int | None, str | None]]:
    with session_scope() as s:
        rows = s.exec(select(File).where(col(File.unit_uuid) == uuid)).all()
        return {f.original_path: (f.size, f.checksum) for f in rows}


@pytest.mark.parametrize("same_process", [True, False])
def test_step_5_records_the_copy_digests_without_reading_again(
    tmp_path: Path, dispatched: object, monkeypatch: pytest.MonkeyPatch, same_process: bool
) -> None:
    """In the process that copied, step 5 reads no file the copy hashed (from 1 MiB);
    elsewhere it hashes them all; the recorded sizes and checksums are the files'
    either way."""
    files = _source(tmp_path / "src")
    hashed: list[Path] = []
    real = identifiers.hash_files

    def hash_files(paths, *args, **kwargs):  # type: ignore[no-untyped-def]
        hashed.extend(paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(identifiers, "hash_files", hash_files)
    if not same_process:  # a flow resumed by another process has no copy digests
        monkeypatch.setattr(mtp, "remember", lambda *_args: None)
    uuid = start_transfer("digests", tmp_path / "src", processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    recorded = _checksums(uuid)
    for rel, data in files.items():
        assert recorded[f"objects/{rel}"] == (len(data), hashlib.sha256(data).hexdigest())
    read = {p.name for p in hashed}
    assert {"small.txt", "empty.bin"} <= read
    assert ("large.bin" in read) is not same_process


def test_a_large_file_that_cannot_be_read_back_is_left_to_step_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background hash of a large file fails: no digest, so step 5 reads the file."""
    monkeypatch.setattr(mtp, "_PIPELINED", 1024 * 1024)

    def broken(*_args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(mtp, "_hash_range", broken)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "large.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    digests = CopyDigests("sha256")
    mtp.copy_in(tmp_path / "src", tmp_path / "dest", digests)
    remember("unit-d", digests)
    assert (tmp_path / "dest" / "large.bin").read_bytes() == (
        tmp_path / "src" / "large.bin"
    ).read_bytes()
    assert lookup("unit-d", tmp_path / "dest" / "large.bin", "sha256") is None
