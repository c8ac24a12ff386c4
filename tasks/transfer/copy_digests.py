"""Digests taken while a transfer was copied into processing, for step 5 to reuse.

*Move to processing directory* hashes every file's bytes as it writes them (the
algorithm of ``checksum_algorithm``), so *Assign checksums and file sizes* need not
read every byte again. The digests stay in this process only: a flow resumed by
another process hashes as before. A digest is reused only for the file it was taken
for, unchanged since: same device and inode (compliance's moves are renames, which
keep both), same size and same modification time (the copy gave the file its
source's; any later write sets it to the time of that write). The AIP's bag
verification re-hashes every byte against these digests before the AIP is stored,
so a file changed in a way this cannot see still stops the AIP.

Usage::

    copied = CopyDigests("sha256")           # handed to the copy, filled per file
    remember(unit_uuid, copied)
    found = lookup(unit_uuid, path, "sha256")  # (size, digest); None: hash the file
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CopyDigests:
    """What the copy hashed: ``(device, inode) -> (size, mtime_ns, digest)``.

    A large file's digest may still be computed in the background when the copy is
    done (a ``Future``): the copy goes on, and :func:`lookup` waits for it.
    """

    algorithm: str
    files: dict[tuple[int, int], tuple[int, int, str | Future[str]]] = field(default_factory=dict)
    _pending: Future[str] | None = None

    def add(self, st: os.stat_result, digest: str | Future[str]) -> None:
        """Record a copied file's digest with its ``fstat`` taken after the copy."""
        self.files[(st.st_dev, st.st_ino)] = (st.st_size, st.st_mtime_ns, digest)
        if isinstance(digest, Future):
            self._pending = digest

    def wait_pending(self) -> None:
        """Wait for the background hash of the previous large file (one at a time)."""
        if self._pending is not None:
            wait([self._pending])
            self._pending = None


#: Transfers whose digests are kept at most (the oldest go first): a transfer that
#: stops before step 5 leaves its digests behind, and a worker runs for months.
KEPT = 32
_by_unit: OrderedDict[str, CopyDigests] = OrderedDict()
_lock = threading.Lock()


def remember(unit_uuid: str, digests: CopyDigests) -> None:
    """Keep a transfer's copy digests for its step 5 (replacing older ones)."""
    with _lock:
        _by_unit.pop(unit_uuid, None)
        _by_unit[unit_uuid] = digests
        while len(_by_unit) > KEPT:
            _by_unit.popitem(last=False)


def forget(unit_uuid: str) -> None:
    """Drop a transfer's copy digests (step 5 is done with them)."""
    with _lock:
        _by_unit.pop(unit_uuid, None)


def lookup(unit_uuid: str, path: Path, algorithm: str) -> tuple[int, str] | None:
    """``(size, digest)`` the copy took of ``path``'s bytes, if still the file's."""
    with _lock:
        known = _by_unit.get(unit_uuid)
    if known is None or known.algorithm != algorithm:
        return None
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    entry = known.files.get((st.st_dev, st.st_ino))
    if entry is None or entry[:2] != (st.st_size, st.st_mtime_ns):
        return None
    digest = entry[2]
    if isinstance(digest, Future):
        try:
            digest = digest.result()
        except Exception:  # could not be read back: step 5 hashes the file itself
            return None
    return entry[0], digest
