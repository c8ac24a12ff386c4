"""One ``custos serve`` per home: an exclusive ``flock`` on ``<home>/run/serve.lock``.

The kernel drops the lock when the holder dies, however it dies, so a crashed
serve never leaves a stale lock behind. The file holds the holder's pid only to
name it in the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from custos.errors import Conflict, StorageError


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
            raise Conflict(f"another custos serve (pid {holder}) is already running on "
                           f"home {self.path.parent.parent}") from exc
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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
