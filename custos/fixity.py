"""Message digests for many files, several algorithms in one read of each file.

Archivematica's "Assign checksums and file sizes" and every later fixity check
hash the same bytes again and again; reading each file once and feeding every
requested hasher per block keeps large files near the speed of the slowest
algorithm, and a thread pool (hashlib releases the GIL on buffers > 2 KiB)
keeps transfers of many small files fast.

Example::

    digests = hash_files(walk_files(objects), ("md5", "sha256"))
    digests[path].digests["sha256"], digests[path].size
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from custos.errors import InvalidInput, StorageError

from .walk import TreeProblem, walk_files

ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256", "sha512")
BUFFER_SIZE = 1024 * 1024
#: Files per thread-pool work item: amortises executor overhead on tiny files.
_BATCH = 64

__all__ = [
    "ALGORITHMS",
    "FileDigests",
    "TreeProblem",
    "digest_event_detail",
    "hash_file",
    "hash_files",
    "hash_tree",
    "walk_files",
]


@dataclass(frozen=True)
class FileDigests:
    """Size and hex digests of one file, keyed by algorithm name."""

    path: Path
    size: int
    digests: dict[str, str]


def _check_algorithms(algorithms: Sequence[str]) -> tuple[str, ...]:
    algos = tuple(a.lower() for a in algorithms)
    unknown = [a for a in algos if a not in ALGORITHMS]
    if unknown or not algos:
        raise InvalidInput(
            f"unsupported checksum algorithm(s): {', '.join(unknown) or '(none)'}; "
            f"use one of {', '.join(ALGORITHMS)}"
        )
    return algos


def _hash_with(path: Path, algos: tuple[str, ...], buf: bytearray) -> FileDigests:
    hashers = [hashlib.new(a) for a in algos]
    view = memoryview(buf)
    size = 0
    try:
        with open(path, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                chunk = view[:n]
                for h in hashers:
                    h.update(chunk)
                size += n
    except OSError as exc:
        raise StorageError(f"cannot read {os.fsdecode(path)!r} for hashing: {exc}") from exc
    return FileDigests(path, size, {a: h.hexdigest() for a, h in zip(algos, hashers, strict=True)})


def hash_file(
    path: str | Path,
    algorithms: Sequence[str] = ("sha256",),
    *,
    buffer_size: int = BUFFER_SIZE,
) -> FileDigests:
    """Hash one file with every algorithm in a single pass.

    Raises :class:`StorageError` when the file cannot be read.
    """
    return _hash_with(Path(path), _check_algorithms(algorithms), bytearray(buffer_size))


def _hash_batch(
    paths: Sequence[Path], algorithms: tuple[str, ...], buffer_size: int
) -> list[FileDigests]:
    # One buffer per batch: zero-filling 1 MiB per tiny file would cost more
    # than hashing it.
    buf = bytearray(buffer_size)
    return [_hash_with(p, algorithms, buf) for p in paths]


def hash_files(
    paths: Iterable[str | Path],
    algorithms: Sequence[str] = ("sha256",),
    *,
    workers: int | None = None,
    buffer_size: int = BUFFER_SIZE,
) -> dict[Path, FileDigests]:
    """Hash many files concurrently; returns ``{path: FileDigests}`` in input order.

    ``workers`` defaults to the CPU count (min 2: even one core overlaps I/O).
    Small buffers for small files are not worth tuning: the per-file cost is
    dominated by open/close, which the batching and threads amortise.
    """
    algos = _check_algorithms(algorithms)
    items = [Path(p) for p in paths]
    batches = [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]
    result: dict[Path, FileDigests] = {}
    if len(batches) <= 1:
        for fd in _hash_batch(items, algos, buffer_size):
            result[fd.path] = fd
        return result
    n = workers or max(2, os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="fixity") as pool:
        for batch in pool.map(lambda b: _hash_batch(b, algos, buffer_size), batches):
            for fd in batch:
                result[fd.path] = fd
    return result


def hash_tree(
    root: str | Path,
    algorithms: Sequence[str] = ("sha256",),
    *,
    workers: int | None = None,
) -> tuple[dict[Path, FileDigests], list[TreeProblem]]:
    """Hash every regular file under ``root`` (symlinks reported, not followed)."""
    problems: list[TreeProblem] = []
    digests = hash_files(walk_files(root, problems), algorithms, workers=workers)
    return digests, problems


def digest_event_detail(algorithm: str) -> str:
    """PREMIS eventDetail for a *message digest calculation*, as Archivematica writes it."""
    return f'program="python"; module="hashlib.{algorithm.lower()}()"'
