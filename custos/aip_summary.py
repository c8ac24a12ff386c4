"""What an AIP page shows: its METS summarised, its fixity history, where it is stored.

:func:`mets_summary` turns what :func:`custos.mets.read.read_mets` read into a file
tree (directories with their files: size, format, checksum and each file's PREMIS
events); :func:`aip_summary` reads the METS out of the stored AIP (one member, not the
whole archive), caches the result per stored file version, and adds the AIP's fixity
history from the database (every ``fixity check`` event on the AIP itself, newest
first).

Example::

    summary = aip_summary(uuid)
    for depth, entry in summary.root.walk(): ...
    summary.fixity[0].outcome
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from custos.aip_read import StoredAip, stored_aip
from custos.db import session_scope
from custos.errors import NotFound
from custos.mets.read import METSContents, read_mets
from custos.models import Event, Unit
from custos.stored_aips import read_member

#: How many AIP summaries stay in memory (each keyed by the stored file's version).
CACHE_SIZE = 16
FIXITY_EVENT = "fixity check"


@dataclass(frozen=True)
class EventEntry:
    """One PREMIS event of a file, as the METS records it."""

    type: str
    datetime: str
    outcome: str
    detail: str
    note: str


@dataclass(frozen=True)
class FileEntry:
    """One file of the AIP's METS."""

    uuid: str
    path: str
    use: str
    size: int | None
    checksum: str
    checksum_algorithm: str
    puid: str
    format_name: str
    format_version: str
    events: tuple[EventEntry, ...]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def format_label(self) -> str:
        """``Portable Network Graphics 1.0 (fmt/13)``, or ``Unknown``."""
        label = " ".join(v for v in (self.format_name, self.format_version) if v) or "Unknown"
        return f"{label} ({self.puid})" if self.puid else label


@dataclass
class TreeDir:
    """A directory of the AIP's file tree (paths relative to the bag's ``data/``)."""

    name: str
    path: str
    dirs: dict[str, TreeDir] = field(default_factory=dict)
    files: list[FileEntry] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Total size of the files below, as the METS records them."""
        return sum(f.size or 0 for f in self.files) + sum(d.size for d in self.dirs.values())

    @property
    def file_count(self) -> int:
        return len(self.files) + sum(d.file_count for d in self.dirs.values())

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TreeDir | FileEntry]]:
        """Directories and files in display order (directories first, by name), with
        their depth below this one."""
        for name in sorted(self.dirs):
            child = self.dirs[name]
            yield depth, child
            yield from child.walk(depth + 1)
        for f in sorted(self.files, key=lambda f: f.name):
            yield depth, f


@dataclass(frozen=True)
class MetsSummary:
    """The METS of an AIP summarised: header dates, the file tree and counts by use."""

    createdate: str
    lastmoddate: str
    root: TreeDir
    by_use: dict[str, int]


@dataclass(frozen=True)
class FixityCheck:
    """One fixity check of the whole AIP (the audit, or "verify now")."""

    at: datetime
    outcome: str
    note: str


@dataclass(frozen=True)
class AipSummary:
    """Everything the AIP page shows."""

    stored: StoredAip
    accession: str | None
    transfer_uuid: str | None
    mets: MetsSummary
    fixity: list[FixityCheck]


def _events(contents: METSContents, uuids: list[str]) -> tuple[EventEntry, ...]:
    out = []
    for uuid in uuids:
        e = contents.events.get(uuid)
        if e is not None:
            out.append(
                EventEntry(
                    type=e["type"],
                    datetime=e["datetime"],
                    outcome=e["outcome"],
                    detail=e["detail"],
                    note=e["outcome_detail_note"],
                )
            )
    return tuple(sorted(out, key=lambda e: e.datetime))


def mets_summary(contents: METSContents) -> MetsSummary:
    """The file tree of a METS (its fileSec's files under their FLocat paths)."""
    root = TreeDir("", "")
    uses: Counter[str] = Counter()
    for info in contents.files.values():
        path = str(info.get("path", "")).strip("/")
        if not path:
            continue
        uses[str(info.get("use", ""))] += 1
        node = root
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            node = node.dirs.setdefault(part, TreeDir(part, "/".join(parts[: i + 1])))
        node.files.append(
            FileEntry(
                uuid=str(info.get("uuid", "")),
                path=path,
                use=str(info.get("use", "")),
                size=info.get("size"),
                checksum=str(info.get("checksum", "")),
                checksum_algorithm=str(info.get("checksum_algorithm", "")),
                puid=str(info.get("puid", "")),
                format_name=str(info.get("format_name", "")),
                format_version=str(info.get("format_version", "")),
                events=_events(contents, list(info.get("events", []))),
            )
        )
    return MetsSummary(contents.createdate, contents.lastmoddate, root, dict(sorted(uses.items())))


_cache: OrderedDict[tuple[str, int, int], MetsSummary] = OrderedDict()
_cache_lock = threading.Lock()


def _version(path: Path, uuid: str) -> tuple[str, int, int]:
    """What identifies the stored METS: the AIP's path, and its mtime and size (the
    METS file's own for a directory AIP)."""
    target = path / "data" / f"METS.{uuid}.xml" if path.is_dir() else path
    st = target.stat()
    return str(target), st.st_mtime_ns, st.st_size


def stored_mets_summary(stored: StoredAip) -> MetsSummary:
    """The summary of the stored AIP's METS, read once per stored version.

    Raises:
        InvalidInput: the AIP holds no METS, or cannot be read.
        ToolFailed: 7-Zip failed.
        NotFound: the stored AIP is missing from its store.
    """
    try:
        key = _version(stored.path, stored.uuid)
    except OSError as exc:
        raise NotFound(f"the stored AIP {stored.path.name} is missing from its store") from exc
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    summary = mets_summary(read_mets(read_member(stored.path, f"data/METS.{stored.uuid}.xml")))
    with _cache_lock:
        _cache[key] = summary
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return summary


def fixity_history(uuid: str, engine: Engine | None = None, limit: int = 100) -> list[FixityCheck]:
    """The AIP's own ``fixity check`` events (audits and "verify now"), newest first."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(Event)
            .where(
                col(Event.unit_uuid) == uuid,
                col(Event.file_uuid).is_(None),
                col(Event.event_type) == FIXITY_EVENT,
            )
            .order_by(col(Event.event_datetime).desc())
            .limit(limit)
        ).all()
        return [FixityCheck(e.event_datetime, e.outcome, e.outcome_note) for e in rows]


def aip_summary(uuid: str, engine: Engine | None = None) -> AipSummary:
    """The AIP page's contents for the stored AIP ``uuid``.

    Raises:
        NotFound: no stored AIP has that uuid.
        InvalidInput, ToolFailed: its METS cannot be read (see
            :func:`stored_mets_summary`).
    """
    stored = stored_aip(uuid, engine)
    with session_scope(engine) as s:
        sip = s.get(Unit, uuid)
        accession = sip.accession if sip else None
        transfer_uuid = sip.transfer_uuid if sip else None
    return AipSummary(
        stored=stored,
        accession=accession,
        transfer_uuid=transfer_uuid,
        mets=stored_mets_summary(stored),
        fixity=fixity_history(uuid, engine),
    )
