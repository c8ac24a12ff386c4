"""Perma link operations over the shared capture model: create, edit, move, delete.

Validation messages and the order of checks are Perma's (capture.md 1.4-1.6); the
routes only parse requests and serialize what these return.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from custos.capture_search import text_matches
from custos.captures import (
    accessible_folder_ids,
    can_access_folder,
    can_delete,
    can_edit,
    create_capture,
    get_capture,
    invalid_job,
)
from custos.db import session_scope
from custos.errors import Conflict, Forbidden, InvalidInput, NotFound
from custos.models import Capture, CaptureJob, CaptureJobStatus, Folder, User, utcnow

WRITABLE = (
    "title",
    "description",
    "notes",
    "is_private",
    "private_reason",
    "default_to_screenshot_view",
    "folder",
    "file",
)
READ_ONLY = (
    "guid",
    "url",
    "creation_timestamp",
    "warc_size",
    "warc_download_url",
    "wacz_size",
    "wacz_download_url",
    "captures",
    "queue_time",
    "capture_time",
    "created_by",
    "user_deleted",
    "archive_timestamp",
    "organization",
)
USER_PRIVACY_REASONS = (None, "user", "meta")


def visible_query(session: Session, user: User) -> SelectOfScalar[Capture]:
    """Captures the user can see in authenticated lists: their folders, not deleted."""
    return (
        select(Capture)
        .where(
            col(Capture.user_deleted).is_(False),
            col(Capture.folder_id).in_(accessible_folder_ids(session, user) or [-1]),
        )
        .order_by(col(Capture.created_at).desc())
    )


def public_query() -> SelectOfScalar[Capture]:
    """Perma's ``discoverable()``: public, listed, not deleted; newest first."""
    return (
        select(Capture)
        .where(
            col(Capture.is_private).is_(False),
            col(Capture.is_unlisted).is_(False),
            col(Capture.user_deleted).is_(False),
        )
        .order_by(col(Capture.created_at).desc())
    )


def search(query: SelectOfScalar[Capture], q: str | None) -> SelectOfScalar[Capture]:
    """Perma's ``?q=`` (guid, submitted URL, title, notes), plus the full-text index
    of ``custos.capture_search`` (the words of the captured page)."""
    if not q:
        return query
    like = f"%{q}%"
    condition = col(Capture.guid).ilike(like) | col(Capture.url).ilike(like)
    condition = condition | col(Capture.title).ilike(like) | col(Capture.notes).ilike(like)
    full_text = text_matches(q)
    return query.where(condition if full_text is None else condition | full_text)


def editable(session: Session, user: User, guid: str) -> Capture:
    """A non-deleted capture the user can edit: 404 if missing, 403 if not theirs."""
    capture = get_capture(session, guid)
    if capture.user_deleted:
        raise NotFound("Not found.")
    if not can_edit(session, user, capture):
        raise Forbidden("You do not have permission to perform this action.")
    return capture


def _bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "on", "off"):
        return value.lower() in ("true", "1", "on")
    raise InvalidInput(
        f"{key} not bool", {key: f"Value must be of type bool, not {type(value).__name__}."}
    )


def _folder_id(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("Folder not found.", {"folder": ["Folder not found."]}) from exc


def create_link(
    user: User,
    data: dict[str, Any],
    *,
    folder: int | None = None,
    batch: int | None = None,
    submit: bool = True,
) -> Capture:
    """POST /archives: a capture, or an ``invalid`` job and a 400 when input is bad.
    ``submit=False``: the caller starts it (a batch starts its captures together).

    Custos extensions: ``preserve`` (bool; default the ``capture_preserve`` setting)
    sends the finished capture as a transfer, ``wacz`` (bool) also packages a WACZ,
    ``pdf`` (bool) also prints the page to a PDF.
    """
    url = data.get("url")
    try:
        if "file" in data:
            raise InvalidInput("uploads", {"file": ["Uploads are not supported here."]})
        human = _bool(data, "human")
        is_private = _bool(data, "is_private")
        target = folder if folder is not None else _folder_id(data.get("folder"))
        title = data.get("title")
        preserve = _bool(data, "preserve") if "preserve" in data else None
        return create_capture(
            str(url or ""),
            user,
            folder=target,
            is_private=is_private,
            title=str(title) if title else None,
            batch=batch,
            human=human,
            notes=str(data.get("notes") or ""),
            preserve=preserve,
            wacz=_bool(data, "wacz"),
            pdf=_bool(data, "pdf"),
            submit=submit,
        )
    except InvalidInput as exc:
        invalid_job(str(url or ""), user, exc.details or {"error": [exc.message]}, batch)
        raise


def update_link(user: User, guid: str, data: dict[str, Any]) -> None:
    """PATCH /archives/{guid}: Perma's writable fields, folder moves, privacy rules."""
    refused = [key for key in data if key in READ_ONLY]
    if refused:
        raise InvalidInput(
            "read-only field", ["Only updates on these fields are allowed: " + ", ".join(WRITABLE)]
        )
    with session_scope() as s:
        capture = editable(s, user, guid)
        if "file" in data:
            job = _job(s, capture)
            if job is not None and job.status in ("pending", "in_progress"):
                raise Conflict("Capture in progress: please wait until complete before replacing.")
            raise InvalidInput(
                "file", {"file": ["Archive contents cannot be replaced after 24 hours"]}
            )
        if "title" in data:
            capture.title = str(data["title"] or "")[:2100]
        if "description" in data:
            capture.description = str(data["description"] or "")[:300] or None
        if "notes" in data:
            capture.notes = str(data["notes"] or "")
        if "default_to_screenshot_view" in data:
            capture.default_to_screenshot_view = _bool(data, "default_to_screenshot_view")
        if "is_private" in data:
            wanted = _bool(data, "is_private")
            if wanted != capture.is_private:
                if capture.private_reason not in USER_PRIVACY_REASONS:
                    raise InvalidInput("privacy", {"is_private": ["Cannot change link privacy."]})
                capture.is_private = wanted
                capture.private_reason = "user" if wanted else None
        if "private_reason" in data and user.is_admin:
            capture.private_reason = data["private_reason"] or None
        if data.get("folder") not in (None, ""):
            _move(s, user, capture, _folder_id(data["folder"]))
        capture.modified_at = utcnow()


def move_link(user: User, guid: str, folder_id: int) -> None:
    """PUT /folders/{id}/archives/{guid}."""
    with session_scope() as s:
        capture = editable(s, user, guid)
        _move(s, user, capture, folder_id)


def _move(session: Session, user: User, capture: Capture, folder_id: int | None) -> None:
    target = session.get(Folder, folder_id) if folder_id is not None else None
    if target is None or not can_access_folder(session, user, target):
        raise InvalidInput("Folder not found.", {"folder": ["Folder not found."]})
    capture.folder_id = target.id
    capture.organization_id = target.organization_id
    capture.modified_at = utcnow()


def _job(session: Session, capture: Capture) -> CaptureJob | None:
    return session.exec(
        select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)
    ).first()


def delete_link(user: User, guid: str) -> None:
    """Soft delete, only within 24 hours and never while the capture runs."""
    with session_scope() as s:
        capture = editable(s, user, guid)
        job = _job(s, capture)
        if job is not None and job.status == "in_progress":
            raise Conflict("Capture in progress: please wait until complete before deleting.")
        if not can_delete(s, user, capture):
            raise Forbidden("You do not have permission to perform this action.")
        capture.user_deleted = True
        capture.user_deleted_at = capture.modified_at = utcnow()
        if job is not None and job.status == CaptureJobStatus.PENDING:
            job.status = CaptureJobStatus.DELETED


CSV_FIELDS = ("url", "status", "error_message", "title", "perma_link", "created_on", "notes")
CSV_STATUS = {
    "completed": "success",
    "failed": "failure",
    "invalid": "failure",
    "deleted": "failure",
    "pending": "pending",
    "in_progress": "in_progress",
}


def links_csv(session: Session, captures: Iterable[Capture], root: str) -> str:
    """Perma's archive export: url,status,error_message,title,perma_link,created_on,notes."""
    from .shapes import iso, job_error

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for capture in captures:
        job = _job(session, capture)
        writer.writerow(
            [
                capture.url,
                CSV_STATUS.get(job.status if job else "", "success"),
                job_error(job) if job else "",
                capture.title or "",
                f"{root}/{capture.guid}",
                iso(capture.created_at),
                capture.notes,
            ]
        )
    return out.getvalue()
