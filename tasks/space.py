"""Free space: a copy into a location that cannot hold it fails saying so.

A full filesystem (``ENOSPC``, or a quota: ``EDQUOT``) in the middle of a copy is an
``OSError`` like any other; ``no_space`` turns it into a ``NoSpace`` error (a
``StorageError``) naming the location, its path, the bytes the copy needs and the
bytes free, so an operator knows what to free and where. ``require_space`` checks
the same before a copy starts. What was written is removed by the caller (the AIP
store and the copy into processing write under a staging name and remove it on any
failure). Any other step that meets a full filesystem fails its unit with
``located``'s one line: ``no space left on <the location holding the file> (<path>)``.

Example::

    require_space(store_dir, tree_size(source), "the AIP store")
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from sqlalchemy import Engine

from custos.errors import StorageError
from custos.models import LocationPurpose
from custos.storage import list_locations


class NoSpace(StorageError):
    """A location is full; the message (one line) names it and says what to do."""


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


def full_message(where: str, folder: Path) -> str:
    """ "no space left on <where> (<folder>): M bytes free" (the need is not known)."""
    return (
        f"no space left on {where} ({folder}): {free_bytes(folder):,} bytes free; "
        "free some space and resume the unit"
    )


#: How each location purpose is named in a message.
PURPOSE_NAMES = {
    LocationPurpose.TRANSFER_SOURCE: "the transfer source",
    LocationPurpose.CURRENTLY_PROCESSING: "the processing location",
    LocationPurpose.AIP_STORAGE: "the AIP store",
    LocationPurpose.DIP_STORAGE: "the DIP store",
    LocationPurpose.BACKLOG: "the backlog",
}


def located(exc: BaseException, engine: Engine | None = None) -> NoSpace | None:
    """For a full filesystem met anywhere (``exc`` or its causes): a ``NoSpace``
    naming the location holding the file it was writing (or the processing location
    when the error names no file); None for any other error."""
    found: BaseException | None = exc
    while found is not None and not (isinstance(found, OSError) and found.errno in NO_SPACE):
        if isinstance(found, NoSpace):
            return found  # said already, with the location and the need
        found = found.__cause__
    if not isinstance(found, OSError):
        return None
    written = Path(os.fsdecode(found.filename)) if found.filename else None
    best: tuple[int, str, Path] | None = None
    processing: tuple[str, Path] | None = None
    for loc in list_locations(engine=engine):
        root = Path(loc.path)
        name = PURPOSE_NAMES.get(loc.purpose, "a location")
        if loc.purpose == LocationPurpose.CURRENTLY_PROCESSING and loc.is_default:
            processing = (name, root)
        if written is not None and written.is_relative_to(root):
            if best is None or len(root.parts) > best[0]:
                best = (len(root.parts), name, root)
    if best is not None:
        return NoSpace(full_message(best[1], best[2]))
    if processing is not None:
        return NoSpace(full_message(*processing))
    folder = written.parent if written is not None else Path(".")
    return NoSpace(full_message("the disk", folder))


def require_space(folder: Path, needed: int, where: str) -> None:
    """``NoSpace`` (see ``message``) unless ``needed`` bytes fit in ``folder``."""
    if free_bytes(folder) < needed:
        raise NoSpace(message(where, folder, needed))


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full filesystem."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def no_space(exc: BaseException, folder: Path, needed: int, where: str) -> NoSpace | None:
    """The ``NoSpace`` error for a full filesystem, or None when ``exc`` is another error."""
    if isinstance(exc, NoSpace):
        return exc
    return NoSpace(message(where, folder, needed)) if is_no_space(exc) else None
