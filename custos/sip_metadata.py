"""Adding metadata files to a SIP before its METS is written (``copy_metadata_files``).

Archivematica lets a client copy files from a transfer source into a SIP's
``metadata/`` folder while the SIP waits, typically at *Reminder: add metadata if
desired*. The ingest's *Process metadata directory* then moves them into
``objects/metadata/`` and gives each a UUID, a checksum, a virus scan, a format
identification and characterization before the METS is written.

What is copied is confined at both ends:

- each source is a base64 ``<location uuid>:<path>`` naming a **transfer source**
  location and a path inside it (``custos.storage.source_path``);
- the copy walks the source and writes the destination through directory
  descriptors (``custos.confined``): a symbolic link, FIFO, socket or device
  anywhere in a source is refused (the whole request copies nothing), and a link
  planted in the SIP's ``metadata/`` folder is refused instead of followed;
- files can be added only until the SIP's metadata has been processed: after
  that they would reach the AIP without those checks, so the request is refused
  (``Conflict``), and a copy that raced with the processing is taken back.

Example::

    copied = add_metadata_files(sip_uuid, [base64_of(f"{ts_uuid}:incoming/md.csv")])
    # ["metadata/md.csv"]
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, select

from custos.confined import copy_entry, opened_below, opened_dir, refused_below, remove_below
from custos.confined import subdir as open_subdir
from custos.db import session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import Job, Unit, UnitStatus, UnitType
from custos.storage import processing_directory, source_path

#: The ingest job after which ``metadata/`` is no longer read (Process metadata directory).
METADATA_MOVED_JOB = "Move metadata to objects directory"
#: Where added files go, relative to the SIP's folder.
METADATA_DIR = "metadata"
FIELD = "source_paths[]"
_CLOSED = (UnitStatus.COMPLETE, UnitStatus.FAILED, UnitStatus.REJECTED)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Source:
    field: str
    root: Path
    relative: str
    name: str


def _sources(encoded_paths: list[str]) -> list[_Source]:
    """Check every path before anything is copied; a missing path is the client's error."""
    out = []
    for i, encoded in enumerate(encoded_paths):
        field = FIELD if len(encoded_paths) == 1 else f"{FIELD} #{i + 1}"
        try:
            loc, target = source_path(encoded, field=field)
        except NotFound as exc:
            raise InvalidInput(exc.message, {"field": field}) from exc
        root = Path(loc.path).resolve()
        out.append(_Source(field, root, target.relative_to(root).as_posix(), target.name))
    return out


def metadata_closed(sip_uuid: str) -> str | None:
    """Why files can no longer be added to the SIP's metadata, or None."""
    with session_scope() as s:
        unit = s.get(Unit, sip_uuid)
        if unit is None or unit.unit_type != UnitType.SIP:
            raise NotFound(f"SIP {sip_uuid} does not exist.")
        if unit.status in _CLOSED:
            return f"SIP {sip_uuid} is {unit.status.value}"
        moved = s.exec(
            select(col(Job.uuid)).where(
                col(Job.unit_uuid) == sip_uuid, col(Job.name) == METADATA_MOVED_JOB
            )
        ).first()
    if moved is not None:
        return f"SIP {sip_uuid} has already processed its metadata directory"
    return None


def _sip_dir(sip_uuid: str) -> Path:
    with session_scope() as s:
        unit = s.get(Unit, sip_uuid)
        current = unit.current_path if unit is not None else None
    return processing_directory(current).resolve()


def add_metadata_files(sip_uuid: str, encoded_paths: list[str]) -> list[str]:
    """Copy each source (file or folder) into the SIP's ``metadata/``; the paths added.

    Raises:
        NotFound: no such SIP.
        Conflict: the SIP is finished or its metadata was already processed.
        InvalidInput: a source is refused (location, path, a link or special file
            inside it); the message names the input and the entry.
        StorageError: the SIP's folder is missing, outside the processing location,
            or cannot be written.
    """
    reason = metadata_closed(sip_uuid)
    if reason:
        raise Conflict(f"{reason}; metadata files can no longer be added")
    sources = _sources(encoded_paths)
    sip_dir = _sip_dir(sip_uuid)
    with ExitStack() as stack:
        opened = []
        for src in sources:
            root_fd = stack.enter_context(opened_dir(src.root))
            try:
                fd, st = stack.enter_context(opened_below(root_fd, src.relative))
            except (InvalidInput, NotFound) as exc:
                raise InvalidInput(f"{src.field}: {exc.message}", {"field": src.field}) from exc
            refused = refused_below(fd, st, src.relative)
            if refused:
                raise InvalidInput(
                    f"{src.field}: {'; '.join(refused[:10])}: symbolic links and special "
                    "files are never copied; nothing was copied",
                    {"field": src.field, "refused": refused},
                )
            opened.append((src, fd, st))
        sip_fd = stack.enter_context(opened_dir(sip_dir))
        meta_fd = stack.enter_context(open_subdir(sip_fd, METADATA_DIR, create=True))
        copied: list[str] = []
        try:
            for src, fd, st in opened:
                copy_entry(fd, st, meta_fd, src.name, shown=src.name, copied=copied)
        except InvalidInput as exc:
            _take_back(meta_fd, copied)
            raise InvalidInput(f"{FIELD}: {exc.message}", exc.details) from exc
        late = metadata_closed(sip_uuid)
        if late:  # the ingest moved metadata/ while we copied: ours would go unchecked
            _take_back(meta_fd, copied)
            raise Conflict(f"{late}; metadata files can no longer be added")
    log.info("added %d metadata file(s) to SIP %s", len(copied), sip_uuid)
    return [f"{METADATA_DIR}/{rel}" for rel in copied]


def _take_back(meta_fd: int, copied: list[str]) -> None:
    for rel in copied:
        remove_below(meta_fd, rel)
