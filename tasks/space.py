"""Free space: a copy into a location that cannot hold it fails saying so.

A full filesystem (``ENOSPC``, or a quota: ``EDQUOT``) in the middle of a copy is an
``OSError`` like any other; ``no_space`` turns it into a ``StorageError`` naming the
location, its path, the bytes the copy needs and the bytes free, so an operator
knows what to free and where. ``require_space`` checks the same before a copy
starts. What was written is removed by the caller (the AIP store and the copy
into processing write under a staging name and remove it on any failure).

Example::

    require_space(store_dir, tree_size(source), "the AIP store")
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from custos.errors import StorageError

#: errnos that mean "the filesystem (or the user's quota) is full".
NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def tree_size(path: Path) -> int:
    """Bytes of a file, or of every file below a folder (links not followed)."""
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path):
        return st.st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def free_bytes(folder: Path) -> int:
    """Bytes free for us on the filesystem of ``folder`` (or of its nearest parent)."""
    target = Path(folder)
    while not target.exists() and target != target.parent:
        target = target.parent
    return shutil.disk_usage(target).free


def message(where: str, folder: Path, needed: int) -> str:
    """ "not enough space in <where> (<folder>): N bytes needed, M free"."""
    return (
        f"not enough space in {where} ({folder}): {needed:,} bytes needed, "
        f"{free_bytes(folder):,} free; free some space and resume the unit"
    )


def require_space(folder: Path, needed: int, where: str) -> None:
    """``StorageError`` (see ``message``) unless ``needed`` bytes fit in ``folder``."""
    if free_bytes(folder) < needed:
        raise StorageError(message(where, folder, needed))


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full filesystem."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def no_space(exc: BaseException, folder: Path, needed: int, where: str) -> StorageError | None:
    """The ``StorageError`` for a full filesystem, or None when ``exc`` is another error."""
    return StorageError(message(where, folder, needed)) if is_no_space(exc) else None
