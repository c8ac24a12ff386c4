"""ArchiveBox's ``/core/`` routes: snapshots, archive results and tags.

A capture user sees and changes only the captures ``auth.scope`` lets them see;
anything else is answered as missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy import false
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from starlette.exceptions import HTTPException

from api.roles import Access
from custos.capture_search import text_matches
from custos.captures import add_urls
from custos.db import session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import ArchiveResult, Capture, CaptureTag, Crawl, Tag, User, utcnow

from . import shapes
from .auth import crawl_scope, current_user, requires, scope
from .errors import ArchiveBoxRoute

router = APIRouter(prefix="/core", route_class=ArchiveBoxRoute)

STATUSES = ("queued", "started", "succeeded", "failed", "sealed")
SNAPSHOT_RANGES = {
    "created_at": Capture.created_at,
    "modified_at": Capture.modified_at,
    "bookmarked_at": Capture.bookmarked_at,
}


def _date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"Invalid datetime: {value}") from exc


def live_snapshots() -> SelectOfScalar[Capture]:
    """Snapshots not deleted (through Perma or ``cli/remove``), newest first."""
    return (
        select(Capture)
        .where(col(Capture.user_deleted).is_(False))
        .order_by(col(Capture.created_at).desc())
    )


def filter_snapshots(
    query: SelectOfScalar[Capture], params: dict[str, str]
) -> SelectOfScalar[Capture]:
    """Every filter of ArchiveBox's SnapshotFilterSchema."""
    if params.get("id"):
        query = query.where(col(Capture.uuid).startswith(params["id"]))
    if params.get("url"):
        query = query.where(col(Capture.url) == params["url"])
    if params.get("title"):
        query = query.where(col(Capture.title).ilike(f"%{params['title']}%"))
    if params.get("timestamp"):
        query = query.where(col(Capture.timestamp).startswith(params["timestamp"]))
    if params.get("tag"):
        query = query.where(
            col(Capture.uuid).in_(
                select(CaptureTag.capture_uuid)
                .join(Tag, col(Tag.id) == col(CaptureTag.tag_id))
                .where(col(Tag.name) == params["tag"])
            )
        )
    if params.get("created_by_id"):
        query = query.where(col(Capture.created_by) == int(params["created_by_id"]))
    if params.get("created_by_username"):
        query = query.where(
            col(Capture.created_by).in_(
                select(User.id).where(col(User.username) == params["created_by_username"])
            )
        )
    for name, column in SNAPSHOT_RANGES.items():
        if params.get(name):
            query = query.where(col(column) == _date(params[name]))
        if params.get(f"{name}__gte"):
            query = query.where(col(column) >= _date(params[f"{name}__gte"]))
        if params.get(f"{name}__lt"):
            query = query.where(col(column) < _date(params[f"{name}__lt"]))
    if params.get("search"):
        like = f"%{params['search']}%"
        tagged = (
            select(CaptureTag.capture_uuid)
            .join(Tag, col(Tag.id) == col(CaptureTag.tag_id))
            .where(col(Tag.name).ilike(like))
        )
        query = query.where(
            col(Capture.url).ilike(like)
            | col(Capture.title).ilike(like)
            | col(Capture.uuid).startswith(params["search"])
            | col(Capture.timestamp).startswith(params["search"])
            | col(Capture.uuid).in_(tagged)
            | _page_text(params["search"])
        )
    return query


def _page_text(query: str) -> ColumnElement[bool]:
    """Captures whose page text (the full-text index) holds every word of ``query``."""
    condition = text_matches(query)
    return false() if condition is None else condition


def _flag(params: dict[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def _page(
    request: Request,
    session: Session,
    query: SelectOfScalar[Any],
) -> tuple[list[Any], dict[str, Any]]:
    params = request.query_params
    try:
        limit = int(params["limit"]) if params.get("limit") else None
        offset, page = int(params.get("offset") or 0), int(params.get("page") or 0)
    except ValueError as exc:
        raise InvalidInput("limit, offset and page must be integers") from exc
    return shapes.paginate(session, query, limit, offset, page)


def find_snapshot(session: Session, ref: str, user: User) -> Capture:
    """By uuid or timestamp prefix, then uuid contains, among the snapshots ``user``
    may see; ambiguous is a Conflict (503)."""
    visible = scope(session, user, live_snapshots())
    for query in (
        visible.where(col(Capture.uuid).startswith(ref) | col(Capture.timestamp).startswith(ref)),
        visible.where(col(Capture.uuid).contains(ref)),
    ):
        rows = session.exec(query.limit(2)).all()
        if len(rows) > 1:
            raise Conflict(f"get() returned more than one Snapshot for {ref!r}")
        if rows:
            return rows[0]
    raise NotFound("Snapshot matching query does not exist.")


@router.get("/snapshots", dependencies=[requires(Access.CAPTURE)])
def list_snapshots(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """Snapshots with ArchiveBox's filters and pagination."""
    params = dict(request.query_params)
    with_results = _flag(params, "with_archiveresults", False)
    try:
        query = filter_snapshots(live_snapshots(), params)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    with session_scope() as s:
        rows, meta = _page(request, s, scope(s, user, query))
        meta["items"] = [shapes.snapshot(s, r, with_results) for r in rows]
        return meta


@router.post("/snapshots", dependencies=[requires(Access.CAPTURE)])
def create_snapshot(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """0.9's snapshot creation: one URL, its own crawl unless ``crawl_id`` is given."""
    url = str(body.get("url") or "").strip()
    if not url:
        raise InvalidInput("URL is required")
    depth = int(body.get("depth") or 0)
    if not 0 <= depth <= 4:
        raise InvalidInput("depth must be between 0 and 4")
    crawl = body.get("crawl_id")
    if crawl:
        with session_scope() as s:
            if (
                s.exec(
                    crawl_scope(user, select(Crawl).where(col(Crawl.uuid) == str(crawl)))
                ).first()
                is None
            ):
                raise NotFound("Crawl matching query does not exist.")
    _, captures = add_urls(
        [url],
        user,
        tags=list(body.get("tags") or []),
        depth=depth,
        title=body.get("title"),
        crawl=body.get("crawl_id"),
    )
    with session_scope() as s:
        return shapes.snapshot(s, captures[0])


@router.get("/snapshot/{ref}", dependencies=[requires(Access.CAPTURE)])
def get_snapshot(ref: str, request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """By UUID, UUID prefix or timestamp."""
    with_results = _flag(dict(request.query_params), "with_archiveresults", True)
    with session_scope() as s:
        return shapes.snapshot(s, find_snapshot(s, ref, user), with_results)


@router.patch("/snapshot/{ref}", dependencies=[requires(Access.CAPTURE)])
def patch_snapshot(
    ref: str, user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """Set ``status`` (sealed clears ``retry_at``), ``retry_at`` or ``tags``."""
    from custos.captures import ensure_tag

    with session_scope() as s:
        capture = find_snapshot(s, ref, user)
        if "status" in body:
            if body["status"] not in STATUSES:
                raise InvalidInput(f"Invalid status: {body['status']}")
            capture.status = body["status"]
        if body.get("retry_at"):
            capture.retry_at = _date(str(body["retry_at"]))
        if capture.status == "sealed":
            capture.retry_at = None
        if "tags" in body:
            for link in s.exec(
                select(CaptureTag).where(col(CaptureTag.capture_uuid) == capture.uuid)
            ).all():
                s.delete(link)
            s.flush()
            for name in body["tags"] or []:
                s.add(CaptureTag(capture_uuid=capture.uuid, tag_id=ensure_tag(s, name).id or 0))
        capture.modified_at = utcnow()
        s.flush()
        return shapes.snapshot(s, capture, True)


@router.get("/archiveresults", dependencies=[requires(Access.CAPTURE)])
def list_archiveresults(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """Archive results, filtered like ArchiveBox's ArchiveResultFilterSchema."""
    p = dict(request.query_params)
    query = (
        select(ArchiveResult)
        .join(Capture, col(Capture.uuid) == col(ArchiveResult.capture_uuid))
        .where(col(Capture.user_deleted).is_(False))
        .order_by(col(ArchiveResult.created_at).desc())
    )
    if p.get("id"):
        query = query.where(col(ArchiveResult.uuid).startswith(p["id"]))
    if p.get("snapshot_id"):
        query = query.where(col(ArchiveResult.capture_uuid).startswith(p["snapshot_id"]))
    if p.get("snapshot_url"):
        query = query.where(col(Capture.url).contains(p["snapshot_url"]))
    for name in ("status", "extractor", "plugin", "cmd_version"):
        if p.get(name):
            field = "extractor" if name == "plugin" else name
            query = query.where(col(getattr(ArchiveResult, field)) == p[name])
    if p.get("output") or p.get("output_str"):
        query = query.where(col(ArchiveResult.output).contains(p.get("output") or p["output_str"]))
    if p.get("search"):
        like = f"%{p['search']}%"
        query = query.where(
            col(Capture.url).ilike(like)
            | col(ArchiveResult.extractor).ilike(like)
            | col(ArchiveResult.output).ilike(like)
        )
    for suffix, op in (("", "__eq__"), ("__gte", "__ge__"), ("__lt", "__lt__")):
        if p.get(f"created_at{suffix}"):
            query = query.where(
                getattr(col(ArchiveResult.created_at), op)(_date(p[f"created_at{suffix}"]))
            )
    with session_scope() as s:
        rows, meta = _page(request, s, scope(s, user, query))
        meta["items"] = [shapes.archiveresult(s, r) for r in rows]
        return meta


@router.get("/archiveresult/{ref}", dependencies=[requires(Access.CAPTURE)])
def get_archiveresult(ref: str, user: User = Depends(current_user)) -> dict[str, Any]:
    with session_scope() as s:
        query = (
            select(ArchiveResult)
            .join(Capture, col(Capture.uuid) == col(ArchiveResult.capture_uuid))
            .where(col(ArchiveResult.uuid).contains(ref))
        )
        rows = s.exec(scope(s, user, query).limit(2)).all()
        if len(rows) > 1:
            raise Conflict(f"get() returned more than one ArchiveResult for {ref!r}")
        if not rows:
            raise NotFound("ArchiveResult matching query does not exist.")
        return shapes.archiveresult(s, rows[0])


def _tags(session: Session, user: User) -> SelectOfScalar[Tag]:
    """Tags; for a non-admin, only those on a capture they may see."""
    query = select(Tag).order_by(col(Tag.name))
    if user.is_admin:
        return query
    visible = scope(session, user, select(Capture.uuid))
    return query.where(
        col(Tag.id).in_(select(CaptureTag.tag_id).where(col(CaptureTag.capture_uuid).in_(visible)))
    )


def _tag(session: Session, user: User, row: Tag, with_snapshots: bool) -> dict[str, Any]:
    """ArchiveBox's Tag, counting and listing only the snapshots ``user`` may see."""
    data = shapes.tag(session, row)
    tagged = select(CaptureTag.capture_uuid).where(col(CaptureTag.tag_id) == row.id)
    captures = session.exec(
        scope(session, user, select(Capture).where(col(Capture.uuid).in_(tagged)))
    ).all()
    data["num_snapshots"] = len(captures)
    if with_snapshots:
        data["snapshots"] = [shapes.snapshot(session, c) for c in captures]
    return data


@router.get("/tags", dependencies=[requires(Access.CAPTURE)])
def list_tags(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    with session_scope() as s:
        rows, meta = _page(request, s, _tags(s, user))
        meta["items"] = [_tag(s, user, r, False) for r in rows]
        return meta


@router.get("/tag/{ref}", dependencies=[requires(Access.CAPTURE)])
def get_tag(ref: str, request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """By id, name or slug; ``with_snapshots`` (default true) lists its snapshots."""
    with_snapshots = _flag(dict(request.query_params), "with_snapshots", True)
    with session_scope() as s:
        query = _tags(s, user).where((col(Tag.name) == ref) | (col(Tag.slug) == ref))
        if ref.isdigit():
            query = _tags(s, user).where(col(Tag.id) == int(ref))
        row = s.exec(query).first()
        if row is None:
            raise HTTPException(404, "Tag not found")
        return _tag(s, user, row, with_snapshots)
