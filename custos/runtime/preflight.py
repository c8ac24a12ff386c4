"""Checks run before ``custos serve`` starts anything.

Each failure is a ``CustosError`` whose message is one line naming the problem,
raised before any stored data is touched (the database is only connected to,
never migrated, until every check passed).
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from custos.errors import ConfigError, StorageError


def check_home(home: Path) -> None:
    """The home must exist (``custos init`` creates it) and be writable."""
    if not home.exists():
        raise StorageError(
            f"home folder {home} does not exist (run `custos init` first or set CUSTOS_HOME)"
        )
    if not home.is_dir():
        raise StorageError(f"home folder {home} is not a folder")
    if not os.access(home, os.W_OK | os.X_OK):
        raise StorageError(f"home folder {home} is not writable")


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail when ``host:port`` cannot be bound (in use, or not an address of this machine)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} ({what}) is already in use") from exc
            raise ConfigError(
                f"cannot listen on {host}:{port} ({what}): {exc.strerror or exc}"
            ) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (tests, and ``--port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
