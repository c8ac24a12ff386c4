"""Copy files and folders through directory descriptors, never following a link.

A path checked with ``realpath`` can change before it is used: a component swapped
for a symbolic link between the check and the copy sends the copy somewhere else.
Here every name is opened relative to an already-opened directory with
``O_NOFOLLOW``, so what is read is what was named and what is written lands where
it was meant to: a link met anywhere (in the source, or in the destination, where a
depositor may have planted one) is refused, never followed. FIFOs, sockets and
device files are refused too; they are opened ``O_NONBLOCK``, so a FIFO cannot hang
the copy. Files are written under a fresh ``O_EXCL`` temporary name and renamed into
place (a rename replaces a link at the final name, it does not follow it).

Example::

    with opened_dir(location_root) as src_root, opened_dir(sip_dir) as sip_fd:
        with opened_below(src_root, "incoming/docs") as (src_fd, st):
            with subdir(sip_fd, "metadata", create=True) as dest_fd:
                copied = copy_entry(src_fd, st, dest_fd, "docs")
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from custos.errors import CustosError, InvalidInput, NotFound, StorageError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ANY_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Deeper folder trees are refused (each level holds one descriptor while copying).
MAX_DEPTH = 64
_CHUNK = 1024 * 1024


def kind_of(mode: int) -> str:
    """What a ``st_mode`` is, in the words of an error message."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device file"


def components(relative: str) -> list[str]:
    """The names of a relative path; ``..``, absolute and empty paths are refused."""
    if relative.startswith("/"):
        raise InvalidInput(f"{relative!r} must be a relative path")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts:
        raise InvalidInput("the path is empty")
    if ".." in parts:
        raise InvalidInput(f"{relative!r} must not contain '..'")
    if any("\0" in p for p in parts):
        raise InvalidInput(f"{relative!r} contains a NUL character")
    return parts


@contextmanager
def opened_dir(path: Path) -> Iterator[int]:
    """A trusted folder (a location's root, a unit's folder) opened for ``*at`` calls.

    Its last component must not be a link; pass a resolved path.
    """
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise StorageError(f"cannot open folder {path}: {exc.strerror or exc}") from exc
    try:
        yield fd
    finally:
        os.close(fd)


def _refusal(parent_fd: int, name: str, shown: str, exc: OSError) -> CustosError:
    """The error for a name that could not be opened without following a link."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return NotFound(f"{shown} does not exist")
    except OSError:
        return StorageError(f"cannot open {shown}: {exc.strerror or exc}")
    kind = kind_of(st.st_mode)
    if kind == "symbolic link":
        return InvalidInput(
            f"{shown} is a symbolic link; links are never followed", {"path": shown, "kind": kind}
        )
    if exc.errno == errno.ENOTDIR:
        return InvalidInput(f"{shown} is a {kind}, not a folder", {"path": shown, "kind": kind})
    return StorageError(f"cannot open {shown}: {exc.strerror or exc}")


def open_entry(parent_fd: int, name: str, shown: str, *, directory: bool = False) -> int:
    """Open ``name`` in ``parent_fd`` without following a link (a folder if asked).

    A name that is neither a file nor a folder is refused before it is opened
    (opening a device can act on it).
    """
    if not directory:
        try:
            kind = kind_of(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
        except OSError as exc:
            raise _refusal(parent_fd, name, shown, exc) from exc
        if kind == "symbolic link":
            raise InvalidInput(
                f"{shown} is a symbolic link; links are never followed",
                {"path": shown, "kind": kind},
            )
        if kind not in ("file", "folder"):
            raise InvalidInput(
                f"{shown} is a {kind}; only files and folders are copied",
                {"path": shown, "kind": kind},
            )
    try:
        return os.open(name, _DIR_FLAGS if directory else _ANY_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise _refusal(parent_fd, name, shown, exc) from exc


@contextmanager
def opened_below(root_fd: int, relative: str) -> Iterator[tuple[int, os.stat_result]]:
    """Open a file or folder below ``root_fd``, walking one name at a time.

    Every component is opened ``O_NOFOLLOW`` relative to the one before, so the
    result lies below the root even if the tree changes meanwhile. Links, FIFOs,
    sockets and devices are refused with ``InvalidInput`` naming them.
    """
    parts = components(relative)
    fd = os.dup(root_fd)
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            nxt = open_entry(fd, name, "/".join(parts[: i + 1]), directory=not last)
            os.close(fd)
            fd = nxt
        st = os.fstat(fd)
        kind = kind_of(st.st_mode)
        if kind not in ("file", "folder"):
            raise InvalidInput(
                f"{relative} is a {kind}; only files and folders are copied",
                {"path": relative, "kind": kind},
            )
        yield fd, st
    finally:
        os.close(fd)


@contextmanager
def subdir(
    parent_fd: int, name: str, *, create: bool = False, shown: str | None = None
) -> Iterator[int]:
    """A folder inside ``parent_fd`` (made when asked), opened without following links."""
    if create:
        with suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent_fd)
    fd = open_entry(parent_fd, name, shown or name, directory=True)
    try:
        yield fd
    finally:
        os.close(fd)


def refused_below(src_fd: int, st: os.stat_result, shown: str, depth: int = 0) -> list[str]:
    """Every link or special file inside an opened folder, as ``<path>: <kind>``.

    A copy refuses them one at a time; this lists them all before anything is
    written, so a refused request copies nothing.
    """
    if not stat.S_ISDIR(st.st_mode):
        return []
    if depth >= MAX_DEPTH:
        return [f"{shown}: folders nested more than {MAX_DEPTH} deep"]
    found: list[str] = []
    for name in sorted(os.listdir(src_fd)):
        child = f"{shown}/{name}"
        try:
            cst = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
        except OSError as exc:
            found.append(f"{child}: cannot be read ({exc.strerror})")
            continue
        kind = kind_of(cst.st_mode)
        if kind == "folder":
            with subdir(src_fd, name, shown=child) as child_fd:
                found += refused_below(child_fd, cst, child, depth + 1)
        elif kind != "file":
            found.append(f"{child}: {kind}")
    return found


def copy_entry(
    src_fd: int,
    st: os.stat_result,
    dest_dir_fd: int,
    name: str,
    *,
    shown: str | None = None,
    copied: list[str] | None = None,
    depth: int = 0,
) -> list[str]:
    """Copy an opened file or folder to ``name`` in ``dest_dir_fd``; the paths copied.

    Folders merge into an existing folder of the same name; files replace a file
    of the same name. Nothing is followed on either side: a link, FIFO, socket or
    device met in the source, or a link in the way in the destination, raises
    ``InvalidInput`` naming it. ``copied`` (returned) grows as each file lands, so
    a caller can take back a copy that failed half way.
    """
    shown = shown or name
    copied = [] if copied is None else copied
    if stat.S_ISREG(st.st_mode):
        _copy_file(src_fd, st, dest_dir_fd, name, shown)
        copied.append(shown)
        return copied
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidInput(
            f"{shown} is a {kind_of(st.st_mode)}; only files and folders are copied",
            {"path": shown},
        )
    if depth >= MAX_DEPTH:
        raise InvalidInput(f"{shown}: folders nested more than {MAX_DEPTH} deep")
    with subdir(dest_dir_fd, name, create=True, shown=shown) as out_fd:
        for child in sorted(os.listdir(src_fd)):
            child_shown = f"{shown}/{child}"
            child_fd = open_entry(src_fd, child, child_shown)
            try:
                copy_entry(
                    child_fd,
                    os.fstat(child_fd),
                    out_fd,
                    child,
                    shown=child_shown,
                    copied=copied,
                    depth=depth + 1,
                )
            finally:
                os.close(child_fd)
    return copied


def _copy_file(src_fd: int, st: os.stat_result, dest_dir_fd: int, name: str, shown: str) -> None:
    tmp = f".custos-copy-{uuid.uuid4().hex}"
    try:
        out = os.open(tmp, _NEW_FILE, 0o600, dir_fd=dest_dir_fd)
    except OSError as exc:
        raise StorageError(f"cannot write {shown}: {exc.strerror or exc}") from exc
    try:
        try:
            with open(src_fd, "rb", closefd=False) as fin, open(out, "wb", closefd=False) as fout:
                fin.seek(0)
                shutil.copyfileobj(fin, fout, _CHUNK)
            os.fchmod(out, (st.st_mode & 0o777) | 0o600)
            os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(out)
        os.replace(tmp, name, src_dir_fd=dest_dir_fd, dst_dir_fd=dest_dir_fd)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(tmp, dir_fd=dest_dir_fd)
        if isinstance(exc, IsADirectoryError):
            raise InvalidInput(
                f"{shown}: a folder of that name is in the way", {"path": shown}
            ) from exc
        if isinstance(exc, OSError):
            raise StorageError(f"cannot copy {shown}: {exc.strerror or exc}") from exc
        raise


def remove_below(root_fd: int, relative: str) -> bool:
    """Delete one file below ``root_fd`` without following links; False if absent."""
    parts = components(relative)
    fd = os.dup(root_fd)
    try:
        for i, name in enumerate(parts[:-1]):
            nxt = open_entry(fd, name, "/".join(parts[: i + 1]), directory=True)
            os.close(fd)
            fd = nxt
        os.unlink(parts[-1], dir_fd=fd)
        return True
    except (FileNotFoundError, NotFound):
        return False
    finally:
        os.close(fd)
