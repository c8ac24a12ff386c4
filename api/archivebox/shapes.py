"""ArchiveBox's JSON shapes (Snapshot, ArchiveResult, Tag, Crawl) and its pagination.

Fields are the union of 0.8.5 and 0.9 where they do not clash (``extractor`` and
``plugin``, ``output`` and ``output_str``), so clients of either line find theirs.
One Snapshot field is ours: ``tls_unverified_origins``, the https origins whose
certificate did not verify against the system trust store (empty when all did).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from custos.captures import tls_verdicts_of
from custos.crawls import crawl_status
from custos.models import ArchiveResult, Capture, CaptureTag, Crawl, Tag, User
from custos.settings import get_settings

DEFAULT_LIMIT = 200
MAX_LIMIT = 500


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with offset (tz-aware UTC in the database)."""
    if value is None:
        return None
    from datetime import UTC

    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def paginate(
    session: Session, query: SelectOfScalar[Any], limit: int | None, offset: int, page: int
) -> tuple[list[Any], dict[str, Any]]:
    """ArchiveBox's CustomPagination, quirks included."""
    limit = min(max(limit or DEFAULT_LIMIT, 1), MAX_LIMIT)
    offset = max(offset, 0)
    if offset == 0 and page > 0:
        offset = page * limit
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = list(session.exec(query.offset(offset).limit(limit)).all())
    return rows, {
        "total_items": total,
        "count": total,
        "total_pages": math.ceil(total / limit),
        "page": math.ceil(offset / (limit + 1)),
        "limit": limit,
        "offset": offset,
        "num_items": len(rows),
    }


def _user(session: Session, user_id: int | None) -> tuple[str | None, str | None]:
    user = session.get(User, user_id) if user_id else None
    return (str(user_id) if user_id else None, user.username if user else None)


def tags_of(session: Session, capture_uuid: str) -> list[str]:
    return list(
        session.exec(
            select(Tag.name)
            .join(CaptureTag, col(CaptureTag.tag_id) == col(Tag.id))
            .where(col(CaptureTag.capture_uuid) == capture_uuid)
            .order_by(col(Tag.name))
        ).all()
    )


def archiveresult(session: Session, row: ArchiveResult, full: bool = True) -> dict[str, Any]:
    """ArchiveBox's ArchiveResult (full form adds the snapshot fields)."""
    capture = session.get(Capture, row.capture_uuid)
    created_by_id, username = _user(session, capture.created_by if capture else None)
    data: dict[str, Any] = {
        "TYPE": "core.models.ArchiveResult",
        "id": row.uuid,
        "created_at": iso(row.created_at),
        "modified_at": iso(row.modified_at),
        "created_by_id": created_by_id,
        "created_by_username": username,
        "status": row.status,
        "retry_at": None,
        "extractor": row.extractor,
        "plugin": row.extractor,
        "hook_name": None,
        "cmd_version": row.cmd_version,
        "cmd": [row.cmd] if row.cmd else [],
        "pwd": capture.directory if capture else None,
        "output": row.output,
        "output_str": row.output or "",
        "output_size": row.output_size or 0,
        "output_mimetypes": row.content_type or "",
        "start_ts": iso(row.start_ts),
        "end_ts": iso(row.end_ts),
    }
    if full and capture is not None:
        data.update(
            {
                "snapshot_id": capture.uuid,
                "snapshot_timestamp": capture.timestamp,
                "snapshot_url": capture.url,
                "snapshot_tags": tags_of(session, capture.uuid),
            }
        )
    return data


def snapshot(session: Session, row: Capture, with_results: bool = False) -> dict[str, Any]:
    """ArchiveBox's Snapshot (``archive_path`` is the capture's output folder)."""
    created_by_id, username = _user(session, row.created_by)
    results = session.exec(
        select(ArchiveResult)
        .where(col(ArchiveResult.capture_uuid) == row.uuid)
        .order_by(col(ArchiveResult.created_at))
    ).all()
    size = sum(r.output_size or 0 for r in results)
    return {
        "TYPE": "core.models.Snapshot",
        "id": row.uuid,
        "created_by_id": created_by_id,
        "created_by_username": username,
        "created_at": iso(row.created_at),
        "modified_at": iso(row.modified_at),
        "bookmarked_at": iso(row.bookmarked_at),
        "downloaded_at": iso(row.downloaded_at),
        "url": row.url,
        "tags": tags_of(session, row.uuid),
        "title": row.title,
        "timestamp": row.timestamp,
        "archive_path": row.directory,
        "status": row.status,
        "retry_at": iso(row.retry_at),
        "crawl_id": row.crawl_uuid,
        "archive_size": size,
        "output_size": size,
        "num_archiveresults": len(results),
        "tls_unverified_origins": list(tls_verdicts_of(results).get("unverified_origins", [])),
        "archiveresults": [archiveresult(session, r, full=False) for r in results]
        if with_results
        else [],
    }


def tag(session: Session, row: Tag, with_snapshots: bool = False) -> dict[str, Any]:
    """ArchiveBox's Tag."""
    uuids = list(
        session.exec(select(CaptureTag.capture_uuid).where(col(CaptureTag.tag_id) == row.id)).all()
    )
    data: dict[str, Any] = {
        "TYPE": "core.models.Tag",
        "id": row.id,
        "created_at": iso(row.created_at),
        "modified_at": iso(row.created_at),
        "created_by_id": None,
        "created_by_username": None,
        "name": row.name,
        "slug": row.slug,
        "num_snapshots": len(uuids),
        "snapshots": [],
    }
    if with_snapshots:
        data["snapshots"] = [
            snapshot(session, c)
            for c in session.exec(
                select(Capture).where(col(Capture.uuid).in_(uuids or ["-"]))
            ).all()
        ]
    return data


def crawl(session: Session, row: Crawl, with_snapshots: bool = False) -> dict[str, Any]:
    """ArchiveBox 0.9's Crawl."""
    created_by_id, username = _user(session, row.created_by)
    data: dict[str, Any] = {
        "TYPE": "crawls.models.Crawl",
        "id": row.uuid,
        "modified_at": iso(row.modified_at),
        "created_at": iso(row.created_at),
        "created_by_id": created_by_id,
        "created_by_username": username,
        "status": crawl_status(
            session.exec(select(Capture.status).where(col(Capture.crawl_uuid) == row.uuid)).all()
        ),
        "retry_at": None,
        "urls": row.urls,
        "max_depth": row.max_depth,
        "max_urls": get_settings().crawl_max_pages if row.max_depth else 0,
        "max_size": 0,
        "tags_str": row.tags_str,
        "label": row.label,
        "config": {},
    }
    if with_snapshots:
        data["snapshots"] = [
            snapshot(session, c)
            for c in session.exec(
                select(Capture)
                .where(col(Capture.crawl_uuid) == row.uuid)
                .order_by(col(Capture.created_at))
            ).all()
        ]
    return data
