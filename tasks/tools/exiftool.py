"""ExifTool kept running: one process reads file after file (``-stay_open True -@ -``).

Starting ExifTool (a Perl program) costs about a tenth of a second of CPU, more than
reading one small file. :class:`ExifTool` starts it once and sends it one command per
file over its standard input; each command ends with ``-echo4 {readyN}`` and
``-executeN``, so ExifTool closes its answer with ``{readyN}`` on standard output and
on standard error, and the two streams of that file are read up to those markers
(waiting on the pipes, never sleeping). Each file keeps its own output and its own
error message. :class:`ExifToolPool` holds one such process per worker thread.

Example::

    with ExifToolPool(2) as pool:
        stdout, stderr = pool.execute(["-X", "/abs/path/photo.jpg"])
"""

from __future__ import annotations

import os
import queue
import selectors
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from custos.errors import ToolFailed
from custos.programs import which

#: Seconds ExifTool gets to leave after ``-stay_open False`` before it is killed.
CLOSE_TIMEOUT = 10.0


def passable(arg: str | Path) -> bool:
    """Whether an argument can go through ``-@ -`` (one argument per line)."""
    return not any(c in os.fsencode(arg) for c in b"\n\r")


class ExifTool:
    """One ExifTool process answering commands until closed; one thread at a time.

    A command that times out, or a process that dies, raises :class:`ToolFailed`;
    the process is then gone and the next command starts a new one.
    """

    def __init__(self, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._count = 0

    def start(self) -> None:
        """Start the process now (else the first command starts it). It is killed when
        the thread that started it ends, so it never outlives a killed worker."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        binary = which("exiftool")
        if binary is None:
            raise ToolFailed("exiftool", 127, "exiftool is not installed")
        # At the end of its input ExifTool waits for more (-stay_open re-reads every
        # 10 ms): if this process died without closing it, it would stay for ever.
        # setpriv makes the kernel kill it when its parent (this thread) ends.
        setpriv = which("setpriv")
        guard = [setpriv, "--pdeathsig", "KILL"] if setpriv else []
        return subprocess.Popen(
            [*guard, binary, "-stay_open", "True", "-@", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def execute(self, args: Sequence[str | Path], timeout: float | None = None) -> tuple[str, str]:
        """Run one ExifTool command (its arguments, no ``exiftool``); (stdout, stderr).
        ``timeout`` (seconds) defaults to the process's.

        Raises:
            ValueError: an argument holds a line break (it cannot be passed this way;
                see :func:`passable`).
            ToolFailed: ExifTool is missing, died, or did not answer within the timeout.
        """
        if not all(passable(a) for a in args):
            raise ValueError("an argument with a line break cannot be passed to ExifTool")
        self.start()
        assert self._proc is not None
        self._count += 1
        marker = f"{{ready{self._count}}}"
        lines = [os.fsencode(a) for a in args]
        lines += [b"-echo4", marker.encode(), f"-execute{self._count}".encode()]
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(b"\n".join(lines) + b"\n")
            proc.stdin.flush()
        except OSError as exc:
            self._abandon()
            raise ToolFailed("exiftool", proc.returncode, f"exiftool stopped: {exc}") from exc
        out, err = self._read_until(proc, (marker + "\n").encode(), timeout or self.timeout)
        return (
            out[: -len(marker) - 1].decode("utf-8", errors="replace"),
            err[: -len(marker) - 1].decode("utf-8", errors="replace"),
        )

    def _read_until(
        self, proc: subprocess.Popen[bytes], end: bytes, timeout: float
    ) -> tuple[bytes, bytes]:
        assert proc.stdout is not None and proc.stderr is not None
        buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            for fd in buffers:
                selector.register(fd, selectors.EVENT_READ)
            open_fds = set(buffers)
            while open_fds:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._abandon()
                    raise ToolFailed("exiftool", -9, f"exiftool: timed out after {timeout:g} s")
                for key, _ in selector.select(remaining):
                    fd = int(key.fd)
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        tail = bytes(buffers[proc.stderr.fileno()]).decode(errors="replace")
                        self._abandon()
                        raise ToolFailed(
                            "exiftool", proc.returncode, f"exiftool stopped: {tail.strip()[-300:]}"
                        )
                    buffers[fd] += chunk
                    if buffers[fd].endswith(end):
                        selector.unregister(fd)
                        open_fds.discard(fd)
        return bytes(buffers[proc.stdout.fileno()]), bytes(buffers[proc.stderr.fileno()])

    def _abandon(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._close_pipes(self._proc)
        self._proc = None

    @staticmethod
    def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()

    def close(self) -> None:
        """Ask ExifTool to leave (killing it if it does not within seconds)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"-stay_open\nFalse\n")
            proc.stdin.close()
            proc.wait(timeout=CLOSE_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        self._close_pipes(proc)


class ExifToolPool:
    """``size`` :class:`ExifTool` processes, each lent to one thread at a time, started
    when the pool is entered (or when first used); closing the pool closes them all."""

    def __init__(self, size: int, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self._all = [ExifTool(timeout) for _ in range(max(1, size))]
        self._idle: queue.SimpleQueue[ExifTool] = queue.SimpleQueue()
        for tool in self._all:
            self._idle.put(tool)

    @contextmanager
    def lease(self) -> Iterator[ExifTool]:
        """An idle process for this thread (waits for one when all are busy)."""
        tool = self._idle.get()
        try:
            yield tool
        finally:
            self._idle.put(tool)

    def execute(self, args: Sequence[str | Path], timeout: float | None = None) -> tuple[str, str]:
        """:meth:`ExifTool.execute` on an idle process of the pool."""
        with self.lease() as tool:
            return tool.execute(args, timeout)

    def close(self) -> None:
        """Close every process of the pool."""
        for tool in self._all:
            tool.close()

    def __enter__(self) -> ExifToolPool:
        """Start every process from this thread (see :meth:`ExifTool.start`)."""
        try:
            for tool in self._all:
                tool.start()
        except ToolFailed:
            self.close()  # not installed: each command will say so
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
