"""One ``custos serve`` per home: an exclusive ``flock`` on ``<home>/run/serve.lock``.

The kernel drops the lock when the holder dies, however it dies, so a crashed
serve never leaves a stale lock behind. The file holds the holder's pid only to
name it in the error message.

``lock_holder`` tells whether a serve holds the lock without taking it (the CLI
asks before every command that starts work), so it can never make a serve that
is starting at that moment fail.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from custos.errors import Conflict, StorageError

PROC_LOCKS = Path("/proc/locks")


class HomeLock:
    """An exclusive, non-blocking lock on a home's run folder.

    Example::

        with HomeLock(settings.run_dir):
            ...  # only one process per home gets here
    """

    def __init__(self, run_dir: Path, name: str = "serve.lock") -> None:
        self.path = run_dir / name
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise Conflict naming the process that holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Conflict(
                f"another custos serve (pid {holder}) is already running on "
                f"home {self.path.parent.parent}"
            ) from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HomeLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_holder(run_dir: Path, name: str = "serve.lock") -> int | None:
    """The pid that holds ``<run_dir>/<name>``, or None when nobody does.

    Read from the kernel's table of locks (``/proc/locks``), so the probe never
    takes the lock, even for an instant. Where that table cannot be read (not
    Linux), a shared non-blocking ``flock`` taken and dropped at once answers
    instead. The pid comes from the lock file (the kernel's is of another pid
    namespace inside containers); 0 when it cannot be read.
    """
    path = run_dir / name
    try:
        st = path.stat()
    except OSError:
        return None  # no lock file: no serve ever ran here (or the home is gone)
    held = _held_in_proc(st) if PROC_LOCKS.exists() else None
    if held is None:
        held = _held_by_probe(path)
    if not held:
        return None
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _held_in_proc(st: os.stat_result) -> bool | None:
    """Whether /proc/locks lists a granted FLOCK on the file (None: unreadable)."""
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = PROC_LOCKS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "<n>: FLOCK ADVISORY WRITE <pid> <maj:min:inode> 0 EOF"; waiters have "->"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key:
            return True
    return False


def _held_by_probe(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock, if taken
    return False
