"""The ``watch-transfer-sources`` flow: start a transfer for each item dropped in a
watched folder.

Each transfer-source location with ``watched=True`` names a subfolder, a
transfer type and a processing configuration in ``watch_options``. An item
(folder or file) starts a transfer once it has not changed for
``settings.watch_settle_seconds``. Starting is claimed by inserting a
``UnitLock`` row keyed by location, name and last modification time: when two
runs overlap, the second insert hits the primary key and skips, so an item
starts exactly once. A start that fails is logged and leaves a
``.<name>.failed`` marker with the reason next to the item (written without
following links: see ``write_failure_note``); it is not retried (drop the item
again, or touch it, to retry).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from prefect import flow
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from custos.db import session_scope
from custos.errors import CustosError
from custos.models import Location, LocationPurpose, UnitLock
from custos.settings import get_settings
from custos.storage import list_locations, resolve_inside
from custos.transfers import start_transfer

log = logging.getLogger(__name__)


@dataclass
class WatchResult:
    """What one pass did."""

    started: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def last_change(item: Path) -> float:
    """The newest mtime/ctime under ``item`` (symlinks not followed)."""
    st = item.lstat()
    newest = max(st.st_mtime, st.st_ctime)
    if item.is_dir() and not item.is_symlink():
        for dirpath, dirnames, filenames in os.walk(item):
            for name in dirnames + filenames:
                s = os.lstat(os.path.join(dirpath, name))
                newest = max(newest, s.st_mtime, s.st_ctime)
    return newest


def claim(key: str, owner: str) -> bool:
    """Insert the lock row; False when another run already holds it."""
    try:
        with session_scope() as s:
            s.add(UnitLock(key=key, owner=owner))
    except IntegrityError:
        return False
    return True


def _key(loc: Location, item: Path, changed: float) -> str:
    digest = hashlib.sha256(os.fsencode(item.name) + f":{changed:.6f}".encode()).hexdigest()
    return f"watch:{loc.uuid}:{digest[:40]}"


def write_failure_note(folder: Path, item_name: str, message: str) -> bool:
    """Leave ``.<item>.failed`` beside the item, never following a link.

    The watched folder belongs to depositors, who may plant a symbolic link (or
    anything else) under the note's name to make the service write elsewhere. The
    note is written to a fresh name opened ``O_CREAT | O_EXCL | O_NOFOLLOW``
    relative to the opened folder, then renamed over the note's name: a rename
    replaces a link there instead of following it. When even that fails (a folder
    of that name, a name too long) the note is only logged. True when written.
    """
    note = f".{item_name}.failed"
    tmp = f".custos-note-{uuid4().hex}"
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        log.warning("cannot open %s for the failure note: %s", folder, exc)
        return False
    try:
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=dir_fd,
        )
        try:
            os.write(fd, (message + "\n").encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
        os.replace(tmp, note, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        log.warning("failure note %s not written in %s: %s", note, folder, exc)
        return False
    finally:
        os.close(dir_fd)


def scan_location(loc: Location, result: WatchResult, now: float) -> None:
    """Start transfers for the settled new items of one watched location."""
    settings = get_settings()
    opts = loc.watch_options or {}
    folder = resolve_inside(Path(loc.path), opts.get("subfolder", "watched"))
    if not folder.is_dir():
        return
    for item in sorted(folder.iterdir()):
        if item.name.startswith("."):
            continue
        changed = last_change(item)
        if now - changed < settings.watch_settle_seconds:
            result.waiting.append(item.name)
            continue
        key = _key(loc, item, changed)
        if not claim(key, owner=f"pid {os.getpid()}"):
            continue
        try:
            uuid = start_transfer(
                item.name,
                item,
                opts.get("type", "standard"),
                opts.get("processing_config", "automated"),
            )
        except CustosError as exc:
            message = f"{item.name}: transfer not started: {exc}"
            log.error(message)
            write_failure_note(folder, item.name, message)
            note = f"failed: {exc}"
            result.failed.append(item.name)
        else:
            note = uuid
            result.started.append(uuid)
        with session_scope() as s:
            s.execute(update(UnitLock).where(col(UnitLock.key) == key).values(note=note[:2000]))


def scan_watched(now: float | None = None) -> WatchResult:
    """One pass over every watched transfer source."""
    result = WatchResult()
    for loc in list_locations(LocationPurpose.TRANSFER_SOURCE):
        if loc.watched:
            scan_location(loc, result, time.time() if now is None else now)
    return result


@flow(name="watch-transfer-sources")
def watch_transfer_sources() -> dict[str, list[str]]:
    """Scan watched folders once; returns started transfer uuids and failed items."""
    result = scan_watched()
    return {"started": result.started, "failed": result.failed, "waiting": result.waiting}
