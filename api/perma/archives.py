"""Perma's ``/public/archives`` and ``/archives`` routes (links, exports, downloads)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import col, select

from api.roles import Access
from custos.captures import can_edit, get_capture
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import Capture, User

from . import links, shapes
from .auth import current_user, payload, requires
from .download import download_response
from .errors import PermaRouter, PlainForbidden

router = PermaRouter()


def search_param(request: Request) -> str | None:
    """Perma's search parameter ``q``; ``search`` is accepted as its alias."""
    return request.query_params.get("q") or request.query_params.get("search")


def root_of(request: Request) -> str:
    """Scheme, host and root path the client used (for download and perma links)."""
    return str(request.base_url).rstrip("/")


def page_of(
    request: Request,
    query: Any,
    detail: Any,
    max_pages: int | None = None,
) -> dict[str, Any]:
    """One page of ``query`` in Perma's envelope, each row shaped by ``detail``."""
    with session_scope() as s:
        rows, meta = shapes.paginate(
            s, query, str(request.url).split("?")[0], dict(request.query_params), max_pages
        )
        return {"meta": meta, "objects": [detail(s, row) for row in rows]}


def _date_filters(query: Any, request: Request) -> Any:
    from datetime import datetime

    params = request.query_params
    for name, op in (("min_date", "__ge__"), ("max_date", "__le__")):
        if params.get(name):
            try:
                value = datetime.fromisoformat(params[name].replace("Z", "+00:00"))
            except ValueError:
                continue
            query = query.where(getattr(col(Capture.created_at), op)(value))
    if params.get("url"):
        key = surt(params["url"])
        if key is not None:  # Perma ignores an unparsable URL
            query = query.where(col(Capture.uuid).in_(_same_surt(key, params["url"])))
    return query


def surt(url: str) -> str | None:
    """The SURT key Perma's ``?url=`` filter compares (``surt.surt`` defaults).

    Scheme, ``www``-prefix, default port, fragment and case are ignored, the host
    is reversed (``com,example)``), query arguments are sorted:
    ``http://www.Example.com/a?b=2&a=1#x`` -> ``com,example)/a?a=1&b=2``.
    """
    from urllib.parse import urlsplit

    text = url.strip()
    if not text:
        return None
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").strip(".").lower()
    if not host:
        return None
    host = re.sub(r"^www\d*\.", "", host)
    is_ip = re.fullmatch(r"[\d.]+|[0-9a-f:]+", host) is not None
    key = host if is_ip else ",".join(reversed(host.split(".")))
    if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme.lower()):
        key += f":{port}"
    path = parts.path or "/"
    query = "&".join(sorted(q for q in parts.query.split("&") if q))
    return (key + ")" + path + ("?" + query if query else "")).lower()


def _same_surt(key: str, url: str) -> list[str]:
    """Uuids of captures whose submitted URL has the SURT ``key`` (host prefilter in SQL)."""
    from urllib.parse import urlsplit

    try:
        host = re.sub(
            r"^www\d*\.",
            "",
            (urlsplit(url if "://" in url else "http://" + url).hostname or "").lower(),
        )
    except ValueError:
        return []
    with session_scope() as s:
        rows = s.exec(
            select(Capture.uuid, Capture.url).where(col(Capture.url).ilike(f"%{host}%"))
        ).all()
    return [uuid for uuid, candidate in rows if surt(candidate) == key]


# -- public ----------------------------------------------------------------------------
@router.get("/public/archives", dependencies=[requires(Access.PUBLIC)])
def public_archives(request: Request) -> dict[str, Any]:
    """Discoverable links, newest first (at most 10 pages, as Perma since late 2025)."""
    root = root_of(request)
    query = _date_filters(links.search(links.public_query(), search_param(request)), request)
    return page_of(
        request, query, lambda s, c: shapes.public_link(s, c, root), shapes.MAX_PUBLIC_PAGES
    )


def _public(guid: str) -> Capture:
    with session_scope() as s:
        capture = get_capture(s, guid)
    if capture.is_private or capture.is_unlisted or capture.user_deleted:
        raise NotFound("Not found.")
    return capture


@router.get("/public/archives/{guid}", dependencies=[requires(Access.PUBLIC)])
def public_archive(guid: str, request: Request) -> dict[str, Any]:
    """One discoverable link; private, unlisted or deleted ones are 404."""
    capture = _public(guid)
    with session_scope() as s:
        return shapes.public_link(s, capture, root_of(request))


@router.get("/public/archives/{guid}/download", dependencies=[requires(Access.PUBLIC)])
def public_download(guid: str, file_format: str | None = None) -> StreamingResponse:
    """The WARC (or WACZ) of a discoverable link."""
    return download_response(_public(guid), file_format)


# -- authenticated ------------------------------------------------------------------------
@router.get("/archives", dependencies=[requires(Access.CAPTURE)])
def list_archives(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """Every link the user can edit (public and private, all folders)."""
    root = root_of(request)
    with session_scope() as s:
        query = links.visible_query(s, user)
    query = _date_filters(links.search(query, search_param(request)), request)
    return page_of(request, query, lambda s, c: shapes.authenticated_link(s, c, root))


@router.post("/archives", status_code=201, dependencies=[requires(Access.CAPTURE)])
def create_archive(
    request: Request, user: User = Depends(current_user), data: dict[str, Any] = Depends(payload)
) -> JSONResponse:
    """Create a link; the capture runs in the background (201 at once)."""
    capture = links.create_link(user, data)
    with session_scope() as s:
        return JSONResponse(shapes.authenticated_link(s, capture, root_of(request)), 201)


@router.get("/archives/export", dependencies=[requires(Access.CAPTURE)])
def export_archives(request: Request, user: User = Depends(current_user)) -> Response:
    """CSV of every link the user can edit."""
    with session_scope() as s:
        body = links.links_csv(s, s.exec(links.visible_query(s, user)).all(), root_of(request))
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="perma-archives.csv"'},
    )


@router.get("/archives/{guid}", dependencies=[requires(Access.CAPTURE)])
def get_archive(guid: str, request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """One link the user can edit."""
    with session_scope() as s:
        return shapes.authenticated_link(s, links.editable(s, user, guid), root_of(request))


@router.patch("/archives/{guid}", dependencies=[requires(Access.CAPTURE)])
def patch_archive(
    guid: str,
    request: Request,
    user: User = Depends(current_user),
    data: dict[str, Any] = Depends(payload),
) -> dict[str, Any]:
    """Update title, description, notes, privacy, screenshot view or folder."""
    links.update_link(user, guid, data)
    with session_scope() as s:
        return shapes.authenticated_link(s, links.editable(s, user, guid), root_of(request))


@router.delete("/archives/{guid}", status_code=204, dependencies=[requires(Access.CAPTURE)])
def delete_archive(guid: str, user: User = Depends(current_user)) -> Response:
    """Soft delete (first 24 hours only)."""
    links.delete_link(user, guid)
    return Response(status_code=204)


@router.get("/archives/{guid}/download", dependencies=[requires(Access.CAPTURE)])
@router.head("/archives/{guid}/download", dependencies=[requires(Access.CAPTURE)])
def download_archive(
    guid: str, file_format: str | None = None, user: User = Depends(current_user)
) -> StreamingResponse:
    """The WARC (default) or WACZ; a private link of someone else is 403 ``Private archive.``"""
    with session_scope() as s:
        capture = get_capture(s, guid)
        allowed = can_edit(s, user, capture)
    if capture.user_deleted:
        raise NotFound("Not found.")
    if not allowed:
        if capture.is_private:
            raise PlainForbidden("Private archive.")
        if capture.is_unlisted:
            raise NotFound("Not found.")
    return download_response(capture, file_format)
