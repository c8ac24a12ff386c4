"""A whole ``custos serve`` as a subprocess, and the power cut: every process killed at once."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from custos.runtime.preflight import free_port

REPO = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def power_cut(pid: int) -> list[int]:
    """SIGKILL ``pid`` and all its descendants at once: each is stopped first (so none
    forks or notices the others dying), then all are killed. Returns the pids."""
    stopped: set[int] = set()
    while True:
        tree = set(descendants(pid)) - stopped
        if not tree:
            break
        for p in tree:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        stopped |= tree
    for p in stopped:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(stopped)


def serve_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``custos serve`` on ``home``: this process's, without the
    database, Prefect and dispatch settings a test session may have set, on free
    ports, without Prefect's UI; ``settings`` (``CUSTOS_...``) added."""
    env = dict(os.environ)
    for name in ("CUSTOS_DATABASE_URL", "PREFECT_API_URL", "CUSTOS_DISPATCH"):
        env.pop(name, None)
    env.update(
        CUSTOS_HOME=str(home),
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
    )
    env.update(settings)
    return env


class ServeProcess:
    """``custos serve --json`` in its own session (run from the repository), its
    output parsed when ready."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli", "serve", "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                cwd=REPO,
            )

    def ready(self, timeout: float = 600) -> dict[str, Any]:
        """The JSON document printed once everything is up (AssertionError otherwise)."""
        assert self.proc.stdout is not None
        text = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.tail()}")
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                text += os.read(self.proc.stdout.fileno(), 65536).decode()
                try:
                    info: dict[str, Any] = json.loads(text)
                except ValueError:
                    continue
                if "error" in info:  # --json reports a failed start as {"error": ...}
                    self.proc.wait(60)
                    raise AssertionError(f"serve failed: {info['error']}: {self.tail()}")
                return info
        raise AssertionError(f"serve not ready in {timeout} s: {self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def power_cut(self) -> list[int]:
        """Every process of this serve killed at once (a power cut, an OOM of the lot)."""
        killed = power_cut(self.proc.pid)
        self.proc.wait(30)
        return killed

    def kill(self) -> None:
        """Every process of this serve killed, if it still runs (a test's cleanup)."""
        if self.proc.poll() is None:
            self.power_cut()

    def stop(self) -> int:
        """Ctrl-C, as an operator stops it (every process killed if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.power_cut()
        return int(self.proc.returncode or 0)
