"""Fixity hashing and safe tree walking on real files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from custos.errors import InvalidInput, StorageError
from custos.fixity import digest_event_detail, hash_file, hash_files, hash_tree
from custos.walk import scan_tree, walk_files


def test_hash_file_all_algorithms_one_pass(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several 1 MiB buffers
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    result = hash_file(f, ("md5", "sha1", "sha256", "sha512"))
    assert result.size == len(data)
    for algo in ("md5", "sha1", "sha256", "sha512"):
        assert result.digests[algo] == hashlib.new(algo, data).hexdigest()


def test_hash_file_empty_and_small_buffer(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hash_file(empty).digests["sha256"] == hashlib.sha256(b"").hexdigest()
    f = tmp_path / "f"
    f.write_bytes(b"abcdefghij")
    digest = hash_file(f, ["MD5"], buffer_size=3).digests["md5"]
    assert digest == hashlib.md5(b"abcdefghij").hexdigest()


def test_unknown_algorithm_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        hash_file(tmp_path, ["crc32"])
    with pytest.raises(StorageError, match="missing"):
        hash_file(tmp_path / "missing")


def test_hash_many_small_files_fast(tmp_path: Path) -> None:
    paths = []
    for i in range(10_000):
        p = tmp_path / f"d{i % 50}" / f"f{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * 4096 + str(i).encode())
        paths.append(p)
    start = time.monotonic()
    result = hash_files(paths, ("sha256",))
    elapsed = time.monotonic() - start
    assert len(result) == 10_000
    assert list(result) == paths  # input order kept
    p = paths[1234]
    assert result[p].digests["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert elapsed < 4.0, elapsed  # ~0.5 s here; generous for a shared 2-core box


def test_walk_sorted_no_symlinks_no_loops(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "b" / "c").mkdir(parents=True)
    (root / "a").mkdir()
    (root / "empty").mkdir()
    (root / "z.txt").write_text("z")
    (root / "a" / "1.txt").write_text("1")
    (root / "b" / "c" / "2.txt").write_text("2")
    (root / "b" / "loop").symlink_to(root, target_is_directory=True)  # symlink loop
    (root / "b" / "out").symlink_to("/etc/passwd")
    (root / "dangling").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")

    problems: list = []
    files = list(walk_files(root, problems))
    assert [f.relative_to(root).as_posix() for f in files] == ["a/1.txt", "b/c/2.txt", "z.txt"]
    kinds = sorted((p.path.name, p.kind) for p in problems)
    assert kinds == [
        ("dangling", "symlink"),
        ("fifo", "fifo"),
        ("loop", "symlink"),
        ("out", "symlink"),
    ]

    scan = scan_tree(root)
    assert scan.empty_directories == [root / "empty"]
    assert {d.name for d in scan.directories} == {"a", "b", "c", "empty"}
    assert len(scan.problems) == 4


def test_hash_tree_and_event_detail(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"hello")
    (tmp_path / "link").symlink_to(tmp_path / "x")
    digests, problems = hash_tree(tmp_path, ("md5",))
    assert list(digests) == [tmp_path / "x"]
    assert digests[tmp_path / "x"].digests["md5"] == "5d41402abc4b2a76b9719d911017c592"
    assert [p.kind for p in problems] == ["symlink"]
    assert digest_event_detail("SHA256") == 'program="python"; module="hashlib.sha256()"'
