"""Store a DIP as an AIP is stored: a temporary copy, verified, fsync'ed, then renamed.

A DIP is not a bag, so its copy is checked against the digests of the DIP it was made
from: the same files, every one with the same sha256. The copy goes through
:func:`tasks.aipstore.store_aip` (``.tmp-<token>-<name>``, every file and directory
fsync'ed before the rename, the store folder after it).

Usage::

    digests = manifest(dip)
    stored = store_dip_copy(dip, store_dir, "name-uuid", digests)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import aipstore


def manifest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by path relative to it (``/``-separated);
    a symbolic link is recorded by its target, never followed."""
    digests: dict[str, str] = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                digests[rel] = "link:" + os.readlink(path)
                continue
            with path.open("rb") as fh:
                digests[rel] = hashlib.file_digest(fh, "sha256").hexdigest()
    return digests


def problems(root: Path, expected: dict[str, str]) -> list[str]:
    """How the tree at ``root`` differs from ``expected`` (empty: it matches)."""
    found = manifest(root)
    issues = [f"{rel} is missing" for rel in sorted(expected.keys() - found.keys())]
    issues += [f"{rel} is not in the DIP" for rel in sorted(found.keys() - expected.keys())]
    issues += [
        f"{rel} differs from the DIP (sha256 {found[rel]}, expected {expected[rel]})"
        for rel in sorted(expected.keys() & found.keys())
        if found[rel] != expected[rel]
    ]
    return issues


def store_dip_copy(
    dip: Path, store_dir: Path, name: str, expected: dict[str, str]
) -> aipstore.StoredAIP:
    """Copy the DIP folder into ``store_dir`` as ``name``, verified and synced.

    Raises:
        StorageError: the name is taken, or the copy cannot be written.
        InvalidInput: the copy does not match ``expected`` (``details`` lists how).
    """
    return aipstore.store_aip(
        dip,
        store_dir,
        name=name,
        verify=lambda copy: problems(copy, expected),
        where="the DIP store",
        point="store-dip",
    )
