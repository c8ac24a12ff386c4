"""Machine-wide slots: at most N holders of a named resource on one machine at once.

Flow runs are separate processes (a runner's or a worker's subprocesses), so a
thread semaphore cannot bound them; a slot is an exclusive ``flock`` on one of N
files in ``<home>/run/slots/<host>/``. The host name keeps machines that share
the home (scaled out, see docs/scale-out.md) apart: each has its own N slots. A
process that dies releases its slot with its file descriptors, so a killed flow
run never leaks one.

Example::

    with machine_slot(settings.run_dir, "clamav", settings.virus_scan_limit):
        scan(...)  # at most virus_scan_limit scans at once on this machine
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Seconds between tries while every slot is taken.
POLL_SECONDS = 0.2


def slot_dir(run_dir: Path, name: str) -> Path:
    """The folder of ``name``'s slot files on this machine."""
    return run_dir / "slots" / socket.gethostname() / name


def _try_slots(folder: Path, limit: int) -> int | None:
    """Lock the first free slot file; its descriptor, or None when all are taken."""
    for index in range(limit):
        fd = os.open(folder / f"{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


@contextmanager
def machine_slot(
    run_dir: Path, name: str, limit: int, *, timeout: float | None = None
) -> Iterator[None]:
    """Hold one of ``limit`` slots of ``name`` on this machine for the ``with`` body.

    Waits while all are held; ``TimeoutError`` after ``timeout`` seconds (None:
    wait as long as it takes).
    """
    folder = slot_dir(run_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while (fd := _try_slots(folder, limit)) is None:
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"no free {name} slot of {limit} within {timeout:g} s")
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
