"""Child processes in their own process groups, stopped as a whole.

Each child starts a new session, so a terminal's Ctrl-C reaches only
``custos serve``, which then stops the children in order; stopping a child
signals its whole group, which also ends the flow-run subprocesses a runner
started. On Linux each child also gets ``PR_SET_PDEATHSIG`` so that even a
``kill -9`` of ``custos serve`` leaves no orphan behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """A started child: its name (for messages), process and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        """The exit code when the child has ended, else None."""
        return self.process.poll()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM the child's group, SIGKILL it after ``timeout``; returns the exit code."""
        _signal_group(self.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            code = self.process.wait()
        # grandchildren of a stopped leader (flow-run subprocesses) go too
        _signal_group(self.pid, signal.SIGKILL)
        return code


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def start_child(
    name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path, cwd: Path | None = None
) -> Child:
    """Start ``argv`` in a new session with stdout and stderr going to ``<log_dir>/<name>.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(argv),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # no threads yet at this point
        )
    return Child(name=name, process=process, log_path=log_path)


def stop_all(children: Sequence[Child], timeout: float = 15.0) -> None:
    """Stop children newest first (API, then runner, then server)."""
    for child in reversed(children):
        child.stop(timeout)
