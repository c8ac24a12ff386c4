"""ArchiveBox's ``/core/`` routes: snapshots, archive results and tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar
from starlette.exceptions import HTTPException

from custos.captures import add_urls
from custos.db import session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import ArchiveResult, Capture, CaptureTag, Tag, User, utcnow

from . import shapes
from .auth import superuser
from .errors import ArchiveBoxRoute

router = APIRouter(prefix="/core", route_class=ArchiveBoxRoute)

STATUSES = ("queued", "started", "succeeded", "failed", "sealed")
SNAPSHOT_RANGES = {"created_at": Capture.created_at, "modified_at": Capture.modified_at,
                   "bookmarked_at": Capture.bookmarked_at}


def _date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"Invalid datetime: {value}") from exc


def live_snapshots() -> SelectOfScalar[Capture]:
    """Snapshots not deleted (through Perma or ``cli/remove``), newest first."""
    return (select(Capture).where(col(Capture.user_deleted).is_(False))
            .order_by(col(Capture.created_at).desc()))


def filter_snapshots(query: SelectOfScalar[Capture], params: dict[str, str]
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
        query = query.where(col(Capture.uuid).in_(select(CaptureTag.capture_uuid).join(
            Tag, col(Tag.id) == col(CaptureTag.tag_id)).where(col(Tag.name) == params["tag"])))
    if params.get("created_by_id"):
        query = query.where(col(Capture.created_by) == int(params["created_by_id"]))
    if params.get("created_by_username"):
        query = query.where(col(Capture.created_by).in_(select(User.id).where(
            col(User.username) == params["created_by_username"])))
    for name, column in SNAPSHOT_RANGES.items():
        if params.get(name):
            query = query.where(col(column) == _date(params[name]))
        if params.get(f"{name}__gte"):
            query = query.where(col(column) >= _date(params[f"{name}__gte"]))
        if params.get(f"{name}__lt"):
            query = query.where(col(column) < _date(params[f"{name}__lt"]))
    if params.get("search"):
        like = f"%{params['search']}%"
        tagged = select(CaptureTag.capture_uuid).join(Tag, col(Tag.id) == col(
            CaptureTag.tag_id)).where(col(Tag.name).ilike(like))
        query = query.where(col(Capture.url).ilike(like) | col(Capture.title).ilike(like)
                            | col(Capture.uuid).startswith(params["search"])
                            | col(Capture.timestamp).startswith(params["search"])
                            | col(Capture.uuid).in_(tagged))
    return query


def _flag(params: dict[str, str], name: str, default: bool) -> bool:
    value = params.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def _page(request: Request, session: Session, query: SelectOfScalar[Any],
          ) -> tuple[list[Any], dict[str, Any]]:
    params = request.query_params
    try:
        limit = int(params["limit"]) if params.get("limit") else None
        offset, page = int(params.get("offset") or 0), int(params.get("page") or 0)
    except ValueError as exc:
        raise InvalidInput("limit, offset and page must be integers") from exc
    return shapes.paginate(session, query, limit, offset, page)


def find_snapshot(session: Session, ref: str) -> Capture:
    """By uuid or timestamp prefix, then uuid contains; ambiguous is a Conflict (503)."""
    for query in (live_snapshots().where(col(Capture.uuid).startswith(ref)
                                         | col(Capture.timestamp).startswith(ref)),
                  live_snapshots().where(col(Capture.uuid).contains(ref))):
        rows = session.exec(query.limit(2)).all()
        if len(rows) > 1:
            raise Conflict(f"get() returned more than one Snapshot for {ref!r}")
        if rows:
            return rows[0]
    raise NotFound("Snapshot matching query does not exist.")


@router.get("/snapshots")
def list_snapshots(request: Request, _: User = Depends(superuser)) -> dict[str, Any]:
    """Snapshots with ArchiveBox's filters and pagination."""
    params = dict(request.query_params)
    with_results = _flag(params, "with_archiveresults", False)
    try:
        query = filter_snapshots(live_snapshots(), params)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    with session_scope() as s:
        rows, meta = _page(request, s, query)
        meta["items"] = [shapes.snapshot(s, r, with_results) for r in rows]
        return meta


@router.post("/snapshots")
def create_snapshot(user: User = Depends(superuser),
                    body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """0.9's snapshot creation: one URL, its own crawl unless ``crawl_id`` is given."""
    url = str(body.get("url") or "").strip()
    if not url:
        raise InvalidInput("URL is required")
    depth = int(body.get("depth") or 0)
    if not 0 <= depth <= 4:
        raise InvalidInput("depth must be between 0 and 4")
    _, captures = add_urls([url], user, tags=list(body.get("tags") or []), depth=depth,
                           title=body.get("title"), crawl=body.get("crawl_id"))
    with session_scope() as s:
        return shapes.snapshot(s, captures[0])


@router.get("/snapshot/{ref}")
def get_snapshot(ref: str, request: Request, _: User = Depends(superuser)) -> dict[str, Any]:
    """By UUID, UUID prefix or timestamp."""
    with_results = _flag(dict(request.query_params), "with_archiveresults", True)
    with session_scope() as s:
        return shapes.snapshot(s, find_snapshot(s, ref), with_results)


@router.patch("/snapshot/{ref}")
def patch_snapshot(ref: str, _: User = Depends(superuser),
                   body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """Set ``status`` (sealed clears ``retry_at``), ``retry_at`` or ``tags``."""
    from custos.captures import ensure_tag

    with session_scope() as s:
        capture = find_snapshot(s, ref)
        if "status" in body:
            if body["status"] not in STATUSES:
                raise InvalidInput(f"Invalid status: {body['status']}")
            capture.status = body["status"]
        if body.get("retry_at"):
            capture.retry_at = _date(str(body["retry_at"]))
        if capture.status == "sealed":
            capture.retry_at = None
        if "tags" in body:
            for link in s.exec(select(CaptureTag).where(
                    col(CaptureTag.capture_uuid) == capture.uuid)).all():
                s.delete(link)
            s.flush()
            for name in body["tags"] or []:
                s.add(CaptureTag(capture_uuid=capture.uuid, tag_id=ensure_tag(s, name).id or 0))
        capture.modified_at = utcnow()
        s.flush()
        return shapes.snapshot(s, capture, True)


@router.get("/archiveresults")
def list_archiveresults(request: Request, _: User = Depends(superuser)) -> dict[str, Any]:
    """Archive results, filtered like ArchiveBox's ArchiveResultFilterSchema."""
    p = dict(request.query_params)
    query = (select(ArchiveResult).join(Capture, col(Capture.uuid) == col(
        ArchiveResult.capture_uuid)).where(col(Capture.user_deleted).is_(False))
             .order_by(col(ArchiveResult.created_at).desc()))
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
        query = query.where(col(ArchiveResult.output).contains(p.get("output") or
                                                               p["output_str"]))
    if p.get("search"):
        like = f"%{p['search']}%"
        query = query.where(col(Capture.url).ilike(like) | col(ArchiveResult.extractor)
                            .ilike(like) | col(ArchiveResult.output).ilike(like))
    for suffix, op in (("", "__eq__"), ("__gte", "__ge__"), ("__lt", "__lt__")):
        if p.get(f"created_at{suffix}"):
            query = query.where(getattr(col(ArchiveResult.created_at), op)(
                _date(p[f"created_at{suffix}"])))
    with session_scope() as s:
        rows, meta = _page(request, s, query)
        meta["items"] = [shapes.archiveresult(s, r) for r in rows]
        return meta


@router.get("/archiveresult/{ref}")
def get_archiveresult(ref: str, _: User = Depends(superuser)) -> dict[str, Any]:
    with session_scope() as s:
        rows = s.exec(select(ArchiveResult).where(col(ArchiveResult.uuid).contains(ref))
                      .limit(2)).all()
        if len(rows) > 1:
            raise Conflict(f"get() returned more than one ArchiveResult for {ref!r}")
        if not rows:
            raise NotFound("ArchiveResult matching query does not exist.")
        return shapes.archiveresult(s, rows[0])


@router.get("/tags")
def list_tags(request: Request, _: User = Depends(superuser)) -> dict[str, Any]:
    with session_scope() as s:
        rows, meta = _page(request, s, select(Tag).order_by(col(Tag.name)))
        meta["items"] = [shapes.tag(s, r) for r in rows]
        return meta


@router.get("/tag/{ref}")
def get_tag(ref: str, request: Request, _: User = Depends(superuser)) -> dict[str, Any]:
    """By id, name or slug; ``with_snapshots`` (default true) lists its snapshots."""
    with_snapshots = _flag(dict(request.query_params), "with_snapshots", True)
    with session_scope() as s:
        query = select(Tag).where((col(Tag.name) == ref) | (col(Tag.slug) == ref))
        if ref.isdigit():
            query = select(Tag).where(col(Tag.id) == int(ref))
        row = s.exec(query).first()
        if row is None:
            raise HTTPException(404, "Tag not found")
        return shapes.tag(s, row, with_snapshots)
