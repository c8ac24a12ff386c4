"""Perma's JSON shapes (its DRF serializers) and its Tastypie pagination envelope.

The envelope keeps ``total_count`` (as Perma's published developer docs show it)
and a null ``next`` on the last page; ``limit`` is capped at 300 as Perma does
since 2026. Download URLs are given for WARC and WACZ (``wacz_size``,
``wacz_download_url`` from Perma's late-2024 shape). One field is ours:
``tls_unverified_origins``, the https origins of the capture whose certificate did
not verify against the system trust store (empty when all did).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from custos.captures import ARCHIVE_DELAY, tls_unverified_origins
from custos.errors import InvalidInput
from custos.models import (
    ArchiveResult,
    Batch,
    Capture,
    CaptureJob,
    Folder,
    Organization,
    User,
)

PAGE_SIZE = 300
MAX_PUBLIC_PAGES = 10

PERMA_STATUS = {"succeeded": "success", "failed": "failed", "skipped": "failed"}


def iso(value: datetime | None) -> str | None:
    """Perma's timestamp form (ISO 8601, UTC, ``Z``)."""
    if value is None:
        return None
    text = value.isoformat()
    return text.replace("+00:00", "Z") if text.endswith("+00:00") else text + "Z"


def paginate(
    session: Session,
    query: SelectOfScalar[Any],
    base_url: str,
    params: dict[str, str],
    max_pages: int | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Apply ``limit``/``offset`` and build Perma's ``meta`` block."""
    try:
        limit = min(max(int(params.get("limit", PAGE_SIZE)), 1), PAGE_SIZE)
        offset = max(int(params.get("offset", 0)), 0)
    except ValueError as exc:
        raise InvalidInput("bad paging", {"error": ["limit and offset must be integers."]}) from exc
    if max_pages is not None and offset > limit * (max_pages - 1):
        raise InvalidInput(
            "offset too large",
            {
                "offset": (
                    f"Maximum offset is {limit * (max_pages - 1)}. Results are limited to "
                    f"{max_pages} pages to prevent expensive queries."
                )
            },
        )
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = list(session.exec(query.offset(offset).limit(limit)).all())

    def link(new_offset: int) -> str:
        query_params = {k: v for k, v in params.items() if k not in ("limit", "offset", "api_key")}
        query_params.update(limit=str(limit), offset=str(new_offset))
        return f"{base_url}?{urlencode(query_params)}"

    meta = {
        "limit": limit,
        "offset": offset,
        "total_count": total,
        "next": link(offset + limit) if offset + limit < total else None,
        "previous": link(max(offset - limit, 0)) if offset > 0 else None,
    }
    return rows, meta


def captures_of(session: Session, capture: Capture) -> list[dict[str, Any]]:
    """Perma ``Capture`` objects: one per output that has a Perma role."""
    rows = session.exec(
        select(ArchiveResult)
        .where(
            col(ArchiveResult.capture_uuid) == capture.uuid, col(ArchiveResult.role).is_not(None)
        )
        .order_by(col(ArchiveResult.created_at))
    ).all()
    return [
        {
            "role": r.role,
            "status": PERMA_STATUS.get(r.status, "pending"),
            "url": r.url,
            "record_type": r.record_type,
            "content_type": r.content_type,
            "user_upload": False,
        }
        for r in rows
    ]


def public_link(
    session: Session, capture: Capture, root: str, download_prefix: str = "/v1/public/archives"
) -> dict[str, Any]:
    """Perma's public ``Link``."""
    queue_time = capture_time = None
    if capture.capture_start is not None:
        queue_time = int((capture.capture_start - _aware(capture.created_at)).total_seconds())
        if capture.capture_end is not None:
            capture_time = int(
                (_aware(capture.capture_end) - _aware(capture.capture_start)).total_seconds()
            )
    download = f"{root}{download_prefix}/{capture.guid}/download"
    return {
        "guid": capture.guid,
        "creation_timestamp": iso(capture.created_at),
        "url": capture.url,
        "title": capture.title or "",
        "description": capture.description,
        "warc_size": capture.warc_size,
        "warc_download_url": download if capture.warc_path or capture.wacz_path else None,
        "wacz_size": capture.wacz_size,
        "wacz_download_url": f"{download}?file_format=wacz" if capture.wacz_path else None,
        "captures": captures_of(session, capture),
        "queue_time": queue_time,
        "capture_time": capture_time,
        "tls_unverified_origins": tls_unverified_origins(session, capture.uuid),
    }


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def user_brief(user: User | None) -> dict[str, Any] | None:
    """Perma's ``created_by`` object."""
    if user is None:
        return None
    full = f"{user.first_name} {user.last_name}".strip() or user.username
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": full,
        "short_name": user.first_name or user.username,
    }


def authenticated_link(session: Session, capture: Capture, root: str) -> dict[str, Any]:
    """Perma's ``AuthenticatedLink``: the public shape plus the owner's fields."""
    data = public_link(session, capture, root, "/v1/archives")
    creator = session.get(User, capture.created_by) if capture.created_by else None
    org = session.get(Organization, capture.organization_id) if capture.organization_id else None
    data.update(
        {
            "notes": capture.notes,
            "created_by": user_brief(creator),
            "is_private": capture.is_private,
            "private_reason": capture.private_reason,
            "user_deleted": capture.user_deleted,
            "archive_timestamp": iso(_aware(capture.created_at) + ARCHIVE_DELAY),
            "organization": organization(session, org) if org else None,
            "default_to_screenshot_view": capture.default_to_screenshot_view,
        }
    )
    return data


def folder_path(session: Session, folder: Folder) -> str:
    """Ancestry of ids from the top, ``"25-35-36"``."""
    ids: list[int] = []
    current: Folder | None = folder
    while current is not None and current.id is not None and current.id not in ids:
        ids.insert(0, current.id)
        current = session.get(Folder, current.parent_id) if current.parent_id else None
    return "-".join(str(i) for i in ids)


def folder(session: Session, row: Folder) -> dict[str, Any]:
    """Perma's ``Folder``."""
    has_children = (
        session.exec(select(Folder.id).where(col(Folder.parent_id) == row.id)).first() is not None
    )
    return {
        "id": row.id,
        "name": row.name,
        "parent": row.parent_id,
        "has_children": has_children,
        "path": folder_path(session, row),
        "organization": row.organization_id,
        "sponsored_by": None,
        "is_sponsored_root_folder": False,
        "read_only": row.read_only,
    }


def organization(session: Session, org: Organization) -> dict[str, Any]:
    """Perma's ``Organization`` with its shared folder."""
    shared = session.get(Folder, org.shared_folder_id) if org.shared_folder_id else None
    return {
        "id": org.id,
        "name": org.name,
        "registrar": org.registrar,
        "default_to_private": org.default_to_private,
        "shared_folder": folder(session, shared) if shared else None,
    }


def queue_position(session: Session, job: CaptureJob) -> int:
    """Pending jobs ahead of this one (0 unless pending)."""
    if job.status != "pending":
        return 0
    ahead = session.exec(
        select(func.count())
        .select_from(CaptureJob)
        .where(col(CaptureJob.status) == "pending", col(CaptureJob.order) < job.order)
    ).one()
    return int(ahead)


def capture_job(session: Session, job: CaptureJob) -> dict[str, Any]:
    """Perma's ``CaptureJob``; ``message`` stays a JSON-encoded string."""
    capture = session.get(Capture, job.capture_uuid) if job.capture_uuid else None
    return {
        "guid": capture.guid if capture else None,
        "status": job.status,
        "message": job.message,
        "submitted_url": job.submitted_url,
        "attempt": job.attempt,
        "step_count": float(job.step_count),
        "step_description": job.step_description,
        "capture_start_time": iso(job.capture_start_time),
        "capture_end_time": iso(job.capture_end_time),
        "queue_position": queue_position(session, job),
        "title": capture.title if capture else None,
        "user_deleted": capture.user_deleted if capture else False,
    }


def batch(session: Session, row: Batch, detailed: bool = True) -> dict[str, Any]:
    """Perma's ``LinkBatch`` (nested target folder when ``detailed``)."""
    jobs = session.exec(
        select(CaptureJob).where(col(CaptureJob.batch_id) == row.id).order_by(col(CaptureJob.id))
    ).all()
    target: Any = row.target_folder_id
    if detailed and row.target_folder_id is not None:
        found = session.get(Folder, row.target_folder_id)
        target = folder(session, found) if found else None
    return {
        "id": row.id,
        "started_on": iso(row.started_on),
        "created_by": row.created_by,
        "capture_jobs": [capture_job(session, j) for j in jobs],
        "target_folder": target,
    }


def job_error(job: CaptureJob) -> str:
    """The first message of a job's JSON ``message`` (for CSV exports)."""
    if not job.message:
        return ""
    try:
        data = json.loads(job.message)
    except ValueError:
        return job.message
    if isinstance(data, dict):
        for value in data.values():
            return str(value[0] if isinstance(value, list) and value else value)
    return str(data)


def links_remaining_value(remaining: float) -> int | str:
    """``float('inf')`` as Perma serializes it: the string ``"Infinity"``."""
    return "Infinity" if remaining == float("inf") else int(remaining)
