"""Write a tree only through directory file descriptors, never following a link.

Unpacking a package or restructuring a bag writes names that came from outside.
Checking those names as text is not enough: a link created (or swapped in) along
the way makes a later ``open(path)`` land elsewhere. Every operation here starts
from a directory that is already open and resolves one path component at a time
with ``O_NOFOLLOW | O_DIRECTORY`` (``openat``), creates files with ``O_EXCL`` and
renames with ``RENAME_NOREPLACE``. A component that is a link, or a file where a
folder is needed, raises :class:`UnsafePath` instead of being followed, so the
guarantee holds even if the tree changes while we write.

Example::

    with DirTree.open(destination) as tree:
        with tree.create_file(("docs", "a.txt")) as out:
            out.write(b"alpha")
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

#: Flags that open a directory component without following a link.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Flags that create a new file, refusing an existing name or a link.
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: Flags that open an existing file for reading without following a link or blocking.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_RENAME_NOREPLACE = 1
_CACHE_LIMIT = 128


class UnsafePath(Exception):  # a refusal, raised to callers that name the member
    """A path component is a link, a non-folder or already taken; nothing was followed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _show(parts: tuple[str, ...]) -> str:
    return "/".join(parts)


def _refusal(parts: tuple[str, ...], exc: OSError, parent: int | None = None) -> UnsafePath:
    """Why ``parts`` cannot be used: what is really there (``lstat``) when we can tell."""
    reasons = {
        errno.ELOOP: "is a symbolic link (not followed)",
        errno.ENOTDIR: "is not a folder",
        errno.EEXIST: "already exists",
        errno.ENOENT: "does not exist",
        errno.ENAMETOOLONG: "name too long",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    if parent is not None and exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
        try:
            mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            reason = "is a symbolic link (not followed)"
        elif mode and not stat.S_ISDIR(mode) and exc.errno != errno.EEXIST:
            reason = "is not a folder"
    return UnsafePath(_show(parts), reason)


def _libc_renameat2() -> object | None:
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None


_RENAMEAT2 = _libc_renameat2()


def rename_noreplace(src_dir_fd: int, src: str, dst_dir_fd: int, dst: str) -> None:
    """Rename ``src`` to ``dst`` (both relative to open directories), never replacing.

    Uses ``renameat2(RENAME_NOREPLACE)``; where the kernel or filesystem lacks it,
    falls back to check-then-rename (the window is only open to our own processes).
    Raises ``FileExistsError`` when ``dst`` exists. Links are moved, not followed.
    """
    if _RENAMEAT2 is not None:
        func = _RENAMEAT2
        rc = func(  # type: ignore[operator]
            ctypes.c_int(src_dir_fd),
            os.fsencode(src),
            ctypes.c_int(dst_dir_fd),
            os.fsencode(dst),
            ctypes.c_uint(_RENAME_NOREPLACE),
        )
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, os.strerror(err), dst)
    try:
        os.stat(dst, dir_fd=dst_dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)
        return
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)


def open_dir(path: str | Path) -> int:
    """Open an existing directory (its last component must not be a link)."""
    return os.open(path, DIR_FLAGS)


class DirTree:
    """A directory opened once; everything below it is reached component by component.

    Opened sub-folders are cached (bounded) so writing many files into one folder
    costs one ``openat`` per file. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, fd: int, label: str = "") -> None:
        self.fd = fd
        self.label = label
        self._dirs: dict[tuple[str, ...], int] = {}

    @classmethod
    def open(cls, path: str | Path) -> DirTree:
        """Open an existing directory as a tree."""
        return cls(open_dir(path), str(path))

    def __enter__(self) -> DirTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the tree's descriptor and every cached sub-folder."""
        self._drop_cache()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _drop_cache(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    # -- folders -----------------------------------------------------------------------
    def dir_fd(self, parts: tuple[str, ...], *, create: bool = False) -> int:
        """The descriptor of the folder ``parts`` (owned by the tree: do not close it).

        With ``create``, missing folders are made (mode 0o777 minus umask). A component
        that is a link or not a folder raises :class:`UnsafePath`.
        """
        if not parts:
            return self.fd
        cached = self._dirs.pop(parts, None)
        if cached is not None:
            self._dirs[parts] = cached  # most recently used last
            return cached
        parent = self.dir_fd(parts[:-1], create=create)
        name = parts[-1]
        if create:
            try:
                os.mkdir(name, 0o777, dir_fd=parent)
            except FileExistsError:
                pass
            except OSError as exc:
                raise _refusal(parts, exc) from exc
        try:
            fd = os.open(name, DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise _refusal(parts, exc, parent) from exc
        if len(self._dirs) >= _CACHE_LIMIT:  # evict the least recently used
            os.close(self._dirs.pop(next(iter(self._dirs))))
        self._dirs[parts] = fd
        return fd

    def mkdir_new(self, parts: tuple[str, ...], mode: int = 0o777) -> None:
        """Create the folder ``parts`` (its parents must exist); refuse if it exists."""
        parent = self.dir_fd(parts[:-1])
        try:
            os.mkdir(parts[-1], mode, dir_fd=parent)
        except OSError as exc:
            raise _refusal(parts, exc) from exc

    def subtree(self, parts: tuple[str, ...]) -> DirTree:
        """A new tree rooted at the folder ``parts`` (its own descriptor)."""
        parent = self.dir_fd(parts[:-1])
        try:
            return DirTree(os.open(parts[-1], DIR_FLAGS, dir_fd=parent), _show(parts))
        except OSError as exc:
            raise _refusal(parts, exc, parent) from exc

    # -- files -------------------------------------------------------------------------
    def create_file(self, parts: tuple[str, ...], mode: int = 0o666) -> BinaryIO:
        """A new regular file at ``parts`` opened for writing (``O_EXCL | O_NOFOLLOW``).

        Missing parent folders are created; an existing name (file, folder or link)
        raises :class:`UnsafePath`.
        """
        parent = self.dir_fd(parts[:-1], create=True)
        try:
            fd = os.open(parts[-1], NEW_FILE_FLAGS, mode, dir_fd=parent)
        except OSError as exc:
            raise _refusal(parts, exc, parent) from exc
        return os.fdopen(fd, "wb")

    def open_file(self, parts: tuple[str, ...]) -> int:
        """An existing regular file at ``parts`` opened read-only; returns the fd.

        Raises :class:`UnsafePath` when it is missing, a link or not a regular file.
        """
        parent = self.dir_fd(parts[:-1])
        try:
            fd = os.open(parts[-1], READ_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise _refusal(parts, exc, parent) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafePath(_show(parts), "is not a regular file")
        os.set_blocking(fd, True)
        return fd

    def lstat(self, parts: tuple[str, ...]) -> os.stat_result | None:
        """``lstat`` of ``parts`` (None when missing); the last component is not followed."""
        try:
            return os.stat(parts[-1], dir_fd=self.dir_fd(parts[:-1]), follow_symlinks=False)
        except FileNotFoundError:
            return None

    def unlink(self, parts: tuple[str, ...]) -> None:
        """Remove the file (or link) ``parts``; never what a link points to."""
        os.unlink(parts[-1], dir_fd=self.dir_fd(parts[:-1]))

    def move_file_to(self, parts: tuple[str, ...], other: DirTree, target: tuple[str, ...]) -> int:
        """Move the regular file ``parts`` to ``target`` in ``other``; return its size.

        The file is opened (``O_NOFOLLOW``) and checked to be regular, renamed without
        replacing anything, and the name that arrived is checked to be that same inode,
        so a link swapped in meanwhile is never moved into ``other``.
        """
        fd = self.open_file(parts)
        try:
            seen = os.fstat(fd)
            dst_parent = other.dir_fd(target[:-1], create=True)
            try:
                rename_noreplace(self.dir_fd(parts[:-1]), parts[-1], dst_parent, target[-1])
            except OSError as exc:
                raise _refusal(target, exc) from exc
            arrived = os.stat(target[-1], dir_fd=dst_parent, follow_symlinks=False)
            if (arrived.st_dev, arrived.st_ino) != (seen.st_dev, seen.st_ino):
                os.unlink(target[-1], dir_fd=dst_parent)
                raise UnsafePath(_show(parts), "changed while it was moved")
            return seen.st_size
        finally:
            os.close(fd)

    def entries(self, parts: tuple[str, ...] = ()) -> Iterator[tuple[str, os.stat_result]]:
        """``(name, lstat)`` of each entry of the folder ``parts``, sorted by name."""
        fd = self.dir_fd(parts)
        for name in sorted(os.listdir(fd)):
            try:
                yield name, os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
