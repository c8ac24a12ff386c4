"""Captures as the console shows them: a user's list with thumbnails, one capture's
record (provenance, outputs, job) and its files, and submitting many URLs at once.

Who sees what follows Perma: a user sees the captures in folders they can reach
(their own and their organisations'), admins see all; deleted captures are hidden.
Output files are served only from inside the capture's own directory.

Example::

    page = list_captures(user, page=1)
    record = capture_record(user, "ABCD-1234")
    path, media_type = capture_file(user, "ABCD-1234", "screenshot")
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from custos.capture_batches import start_captures
from custos.capture_contents import inside_capture, result_file
from custos.capture_search import matches
from custos.captures import (
    accessible_folder_ids,
    can_edit,
    create_batch,
    create_capture,
    get_capture,
    tls_record,
)
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import ArchiveResult, Capture, CaptureJob, Folder, ResultStatus, User

PER_PAGE = 24
MAX_URLS = 100
#: Download kinds: the extractor whose output is served and its media type.
FILES: dict[str, tuple[str, str]] = {
    "warc": ("warc", "application/warc"),
    "wacz": ("wacz", "application/wacz"),
    "screenshot": ("screenshot", "image/png"),
    "pdf": ("pdf", "application/pdf"),
}


@dataclass(frozen=True)
class CaptureRow:
    """One capture of the list."""

    uuid: str
    guid: str
    url: str
    title: str | None
    status: str
    created_at: datetime
    has_screenshot: bool
    folder: str | None


@dataclass(frozen=True)
class CapturePage:
    rows: list[CaptureRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class ResultRow:
    """One output of a capture (ArchiveBox's archive result)."""

    extractor: str
    status: str
    output: str | None
    size: int | None
    cmd: str
    cmd_version: str | None
    started: datetime | None
    ended: datetime | None


@dataclass(frozen=True)
class CaptureRecord:
    """A capture's page: the capture, its folder, its job, its outputs, its TLS record,
    and which downloads exist."""

    capture: Capture
    folder: str | None
    job_status: str | None
    job_message: str | None
    job_step: str | None
    results: list[ResultRow]
    tls: dict[str, Any]
    downloads: list[str]


def _visible(session: Session, user: User) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [col(Capture.user_deleted).is_(False)]
    if not user.is_admin:
        folders = accessible_folder_ids(session, user) or [-1]
        where.append(or_(col(Capture.folder_id).in_(folders), col(Capture.created_by) == user.id))
    return where


def list_captures(user: User, page: int = 1, per_page: int = PER_PAGE, q: str = "") -> CapturePage:
    """The captures ``user`` may see, newest first, ``per_page`` at a time.

    ``q`` searches them (``custos.capture_search.matches``): every word of it in the
    title, the URL or the visible text of the captured page, or a substring of the
    GUID, URL or title.
    """
    with session_scope() as s:
        where = _visible(s, user)
        found = matches(q, s.get_bind().dialect.name)
        if found is not None:
            where.append(found)
        total = s.exec(select(func.count()).select_from(Capture).where(*where)).one()
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
        rows = s.execute(
            sa_select(
                col(Capture.uuid),
                col(Capture.guid),
                col(Capture.url),
                col(Capture.title),
                col(Capture.status),
                col(Capture.created_at),
                col(Folder.name),
            )
            .outerjoin(Folder, col(Folder.id) == col(Capture.folder_id))
            .where(*where)
            .order_by(col(Capture.created_at).desc(), col(Capture.uuid))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        shots = set(
            s.exec(
                select(col(ArchiveResult.capture_uuid)).where(
                    col(ArchiveResult.capture_uuid).in_([r[0] for r in rows] or [""]),
                    col(ArchiveResult.extractor) == "screenshot",
                    col(ArchiveResult.status) == ResultStatus.SUCCEEDED,
                )
            ).all()
        )
    return CapturePage(
        [
            CaptureRow(uuid, guid, url, title, str(status), created, uuid in shots, folder)
            for uuid, guid, url, title, status, created, folder in rows
        ],
        total,
        page,
        per_page,
    )


def _get_visible(s: Session, user: User, guid: str) -> Capture:
    capture = get_capture(s, guid)
    if capture.user_deleted or not can_edit(s, user, capture):
        raise NotFound(f"no capture {guid}")
    return capture


def capture_record(user: User, guid: str) -> CaptureRecord:
    """The capture ``guid`` (Perma GUID or uuid) as its page shows it.

    Raises:
        NotFound: no such capture, or not one ``user`` may see.
    """
    with session_scope() as s:
        capture = _get_visible(s, user, guid)
        folder = s.get(Folder, capture.folder_id) if capture.folder_id else None
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)).first()
        results = list(
            s.exec(
                select(ArchiveResult)
                .where(col(ArchiveResult.capture_uuid) == capture.uuid)
                .order_by(col(ArchiveResult.created_at), col(ArchiveResult.extractor))
            ).all()
        )
        outputs = {r.extractor: r for r in results if r.status == ResultStatus.SUCCEEDED}
        downloads = [
            kind
            for kind, (extractor, _) in FILES.items()
            if extractor in outputs and inside_capture(capture, outputs[extractor].output)
        ]
        tls = tls_record(s, capture.uuid)
        s.expunge(capture)
        return CaptureRecord(
            capture=capture,
            folder=folder.name if folder else None,
            job_status=str(job.status) if job else None,
            job_message=job.message if job else None,
            job_step=job.step_description if job else None,
            results=[
                ResultRow(
                    r.extractor,
                    str(r.status),
                    r.output,
                    r.output_size,
                    r.cmd,
                    r.cmd_version,
                    r.start_ts,
                    r.end_ts,
                )
                for r in results
            ],
            tls=tls,
            downloads=downloads,
        )


def capture_file(user: User, guid: str, kind: str) -> tuple[Path, str, str]:
    """The file of one download of a capture: its path, media type and a file name.

    Raises:
        NotFound: no such capture or output, or not one ``user`` may see.
    """
    if kind not in FILES:
        raise NotFound(f"no download {kind!r}; use one of {', '.join(FILES)}")
    extractor, media_type = FILES[kind]
    with session_scope() as s:
        capture = _get_visible(s, user, guid)
        path = result_file(s, capture, extractor)
        if path is None:
            raise NotFound(f"capture {capture.guid} has no {kind}")
        return path, media_type, f"{capture.guid}{''.join(path.suffixes) or '.' + kind}"


def folder_choices(user: User) -> list[tuple[int, str]]:
    """The folders ``user`` may capture into, as ``(id, path label)``, by label."""
    with session_scope() as s:
        ids = set(accessible_folder_ids(s, user))
        folders = {f.id: f for f in s.exec(select(Folder)).all() if f.id in ids}

    def label(f: Folder) -> str:
        parts, node, seen = [f.name], f, {f.id}
        while (
            node.parent_id is not None and node.parent_id in folders and node.parent_id not in seen
        ):
            node = folders[node.parent_id]
            seen.add(node.id)
            parts.append(node.name)
        return " / ".join(reversed(parts))

    return sorted(
        ((fid, label(f)) for fid, f in folders.items() if fid is not None and not f.read_only),
        key=lambda x: x[1].lower(),
    )


@dataclass(frozen=True)
class Submitted:
    """What a submission made: the new captures and the refused lines with why."""

    captures: list[Capture]
    refused: list[tuple[str, str]]


def _looks_like_url(text: str) -> bool:
    """A web address the console will try: no blanks, http(s) (assumed when no scheme
    is given, as Perma does) and a host name."""
    if any(c.isspace() for c in text):
        return False
    parts = urlsplit(text if "://" in text else f"http://{text}")
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def submit_urls(user: User, text: str, folder: int | None = None) -> Submitted:
    """Start a capture of every URL in ``text`` (one a line) into ``folder`` (default:
    the user's personal folder), as one Perma batch when there are several.

    Raises:
        InvalidInput: no URL, too many, or a folder the user cannot capture into.
    """
    urls = [line.strip() for line in text.splitlines() if line.strip()]
    if not urls:
        raise InvalidInput("give at least one URL")
    if len(urls) > MAX_URLS:
        raise InvalidInput(f"at most {MAX_URLS} URLs at once, not {len(urls)}")
    good = [u for u in urls if _looks_like_url(u)]
    batch = create_batch(user, folder).id if len(good) > 1 else None
    made, refused = [], []
    for url in urls:
        if not _looks_like_url(url):
            refused.append((url, "not a web address (http:// or https://, then a host name)"))
            continue
        try:
            made.append(create_capture(url, user, folder, batch=batch, human=True, submit=False))
        except InvalidInput as exc:
            refused.append((url, str(exc)))
    start_captures([c.uuid for c in made])  # several: one batch run (custos.capture_batches)
    return Submitted(made, refused)
