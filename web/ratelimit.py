"""Sign-in attempts limited per user name and per address, shared by every worker.

A failed sign-in is recorded under two keys: the (user name, address) pair and
the address alone. When a key holds ``PAIR_LIMIT`` (resp. ``ADDRESS_LIMIT``)
failures within ``WINDOW`` seconds, further attempts are refused until the
oldest failure ages out, without checking the password (the answer names the
wait). A successful sign-in clears its pair. The failures are kept as small
files in the home's ``run/signin`` folder, under an ``flock``, so the API's
worker processes share one count.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from custos.settings import get_settings

WINDOW = 15 * 60
PAIR_LIMIT = 5
ADDRESS_LIMIT = 30


def _folder() -> Path:
    folder = get_settings().run_dir / "signin"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    pair = hashlib.sha256(f"{username.lower()}\0{address}".encode()).hexdigest()[:32]
    alone = hashlib.sha256(f"\0{address}".encode()).hexdigest()[:32]
    return [(pair, PAIR_LIMIT), (alone, ADDRESS_LIMIT)]


@contextmanager
def _locked(key: str) -> Iterator[tuple[list[float], Path]]:
    path = _folder() / key
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 1 << 16, 0)
        try:
            stamps = [float(t) for t in json.loads(raw or b"[]")]
        except ValueError:
            stamps = []
        now = time.time()
        stamps = [t for t in stamps if now - t < WINDOW]
        yield stamps, path
        data = json.dumps(stamps).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def wait_seconds(username: str, address: str) -> int:
    """Seconds until a sign-in may be tried again (0: now)."""
    wait = 0.0
    now = time.time()
    for key, limit in _keys(username, address):
        with _locked(key) as (stamps, _):
            if len(stamps) >= limit:
                wait = max(wait, stamps[-limit] + WINDOW - now)
    return max(0, int(wait + 0.999))


def failed(username: str, address: str) -> None:
    """Count a failed attempt."""
    for key, _limit in _keys(username, address):
        with _locked(key) as (stamps, _):
            stamps.append(time.time())


def succeeded(username: str, address: str) -> None:
    """Forget the pair's failures (the address's count stays)."""
    key, _limit = _keys(username, address)[0]
    with _locked(key) as (stamps, _):
        stamps.clear()
