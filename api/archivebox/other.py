"""ArchiveBox's ``/auth/``, ``/crawls/``, ``/cli/``, ``/workers/`` and ``/machine/`` routes.

The CLI routes run the same operations as ``custos capture`` (add, update = re-run,
search/list, remove) and answer ArchiveBox's ``CLICommandResponseSchema``.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import sys
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy import func
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.roles import Access
from custos import __version__, dispatch
from custos.accounts import authenticate, create_api_key
from custos.capture_search import text_matches
from custos.captures import add_urls
from custos.crawls import crawl_status
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import (
    Capture,
    CaptureJob,
    CaptureJobStatus,
    CaptureStatus,
    Crawl,
    User,
    utcnow,
)
from custos.settings import get_settings

from . import shapes
from .auth import crawl_scope, current_user, key_user, requires, scope
from .core import filter_snapshots, live_snapshots
from .errors import ArchiveBoxRoute

auth_router = APIRouter(prefix="/auth", route_class=ArchiveBoxRoute)
crawls_router = APIRouter(prefix="/crawls", route_class=ArchiveBoxRoute)
cli_router = APIRouter(prefix="/cli", route_class=ArchiveBoxRoute)
workers_router = APIRouter(prefix="/workers", route_class=ArchiveBoxRoute)
machine_router = APIRouter(prefix="/machine", route_class=ArchiveBoxRoute)

TOKEN_LIFETIME = timedelta(days=30)


# -- auth ----------------------------------------------------------------------------
def _issue_token(username: str, password: str) -> dict[str, Any]:
    user = authenticate(username, password)
    if user is None or user.id is None:
        return {"success": False, "errors": ["Invalid credentials"]}
    expires = utcnow() + TOKEN_LIFETIME
    token = create_api_key(user.id, label="archivebox get_api_token", expires=expires)
    return {
        "success": True,
        "user_id": str(user.id),
        "username": user.username,
        "token": token,
        "expires": expires.isoformat(),
    }


@auth_router.post("/get_api_token", dependencies=[requires(Access.PUBLIC)])
async def get_api_token(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """A new token valid 30 days for a username and password (HTTP 200 either way)."""
    return await run_in_threadpool(
        _issue_token, str(body.get("username") or ""), str(body.get("password") or "")
    )


@auth_router.post("/check_api_token", dependencies=[requires(Access.PUBLIC)])
async def check_api_token(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    found = await run_in_threadpool(key_user, str(body.get("token") or ""))
    if found is None:
        return {"success": False, "user_id": None}
    return {"success": True, "user_id": str(found.user.id)}


# -- crawls ----------------------------------------------------------------------------
@crawls_router.get("/crawls", dependencies=[requires(Access.CAPTURE)])
def list_crawls(user: User = Depends(current_user)) -> list[dict[str, Any]]:
    """Every crawl the caller may see, newest first (not paginated, as in ArchiveBox)."""
    with session_scope() as s:
        return [
            shapes.crawl(s, c)
            for c in s.exec(
                crawl_scope(user, select(Crawl).order_by(col(Crawl.created_at).desc()))
            ).all()
        ]


@crawls_router.post("/crawls", dependencies=[requires(Access.CAPTURE)])
def create_crawl(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """The URLs of one submission; snapshots are created (and queued) at once."""
    urls = [str(u).strip() for u in body.get("urls") or [] if str(u).strip()]
    if not urls:
        raise InvalidInput("urls must be a non-empty list")
    depth = int(body.get("max_depth") or 0)
    if not 0 <= depth <= 4:
        raise InvalidInput("max_depth must be between 0 and 4")
    tags = body.get("tags") or [t for t in str(body.get("tags_str") or "").split(",") if t]
    crawl_uuid, _captures = add_urls(urls, user, tags=tags, depth=depth)
    with session_scope() as s:
        crawl = s.get(Crawl, crawl_uuid)
        assert crawl is not None
        return shapes.crawl(s, crawl, with_snapshots=True)


@crawls_router.get("/crawl/{ref}", dependencies=[requires(Access.CAPTURE)])
def get_crawl(ref: str, request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    with_snapshots = request.query_params.get("with_snapshots", "false").lower() == "true"
    with session_scope() as s:
        crawl = s.exec(
            crawl_scope(user, select(Crawl).where(col(Crawl.uuid).startswith(ref)))
        ).first()
        if crawl is None:
            raise NotFound("Crawl matching query does not exist.")
        return shapes.crawl(s, crawl, with_snapshots)


# -- cli -------------------------------------------------------------------------------
def _cli(result: Any, stdout: str = "", fmt: str = "json") -> dict[str, Any]:
    return {
        "success": True,
        "errors": [],
        "result": result,
        "result_format": fmt,
        "stdout": stdout,
        "stderr": "",
    }


def _matching(body: dict[str, Any], user: User) -> list[Capture]:
    """Snapshots ``user`` may see matching ArchiveBox's filter_type/filter_patterns/
    after/before."""
    patterns = [str(p) for p in body.get("filter_patterns") or []]
    kind = str(body.get("filter_type") or "exact")
    with session_scope() as s:
        rows = list(s.exec(scope(s, user, filter_snapshots(live_snapshots(), {}))).all())
    after, before = body.get("after"), body.get("before")

    def keep(c: Capture) -> bool:
        ts = float(c.timestamp)
        if (after is not None and ts < float(after)) or (before is not None and ts > float(before)):
            return False
        if not patterns:
            return True
        for p in patterns:
            if (
                kind == "exact"
                and c.url == p
                or kind == "substring"
                and p in c.url
                or kind == "regex"
                and re.search(p, c.url)
                or kind == "domain"
                and (re.sub(r"^\w+://", "", c.url).split("/")[0].split(":")[0] == p)
                or kind == "timestamp"
                and c.timestamp == p
            ):
                return True
        return False

    if kind == "search":  # ArchiveBox's full-text filter: the words of the captured page
        with session_scope() as s:
            found = {
                uuid
                for p in patterns
                if (condition := text_matches(p)) is not None
                for uuid in s.exec(select(Capture.uuid).where(condition)).all()
            }
        return [c for c in rows if c.uuid in found]
    if kind == "tag":
        with session_scope() as s:
            tagged = {c.uuid for c in rows if set(shapes.tags_of(s, c.uuid)) & set(patterns)}
        return [c for c in rows if c.uuid in tagged]
    return [c for c in rows if keep(c)]


@cli_router.post("/add", dependencies=[requires(Access.CAPTURE)])
def cli_add(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """``archivebox add``: one crawl, one snapshot per URL, captured in the background.

    Custos extensions: ``preserve`` (bool, default the ``capture_preserve`` setting)
    makes each finished snapshot an AIP; ``wacz`` (bool) also packages a WACZ.
    """
    urls = [u for u in (str(x).strip() for x in body.get("urls") or []) if u]
    if not urls:
        raise InvalidInput("URL is required")
    depth = int(body.get("depth") or 0)
    if not 0 <= depth <= 4:
        raise InvalidInput("depth must be between 0 and 4")
    tags = [t for t in re.split(r"[,\s]+", str(body.get("tag") or "")) if t]
    preserve = body.get("preserve")
    crawl_uuid, captures = add_urls(
        urls,
        user,
        tags=tags,
        depth=depth,
        preserve=None if preserve is None else bool(preserve),
        wacz=bool(body.get("wacz")),
    )
    return _cli(
        {
            "crawl_id": crawl_uuid,
            "num_snapshots": len(captures),
            "snapshot_ids": [c.uuid for c in captures],
            "queued_urls": urls,
        },
        f"Added {len(captures)} URLs to crawl {crawl_uuid}",
    )


@cli_router.post("/update", dependencies=[requires(Access.CAPTURE)])
def cli_update(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """``archivebox update``: queue matching failed (or, with overwrite, all) snapshots again."""
    overwrite = bool(body.get("overwrite"))
    queued = []
    for capture in _matching(body, user):
        if capture.status not in ("failed", "queued") and not overwrite:
            continue
        with session_scope() as s:
            row = s.get(Capture, capture.uuid)
            job = s.exec(
                select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)
            ).first()
            if row is None or job is None or job.status == CaptureJobStatus.IN_PROGRESS:
                continue
            row.status, row.retry_at = CaptureStatus.QUEUED, None
            job.status = CaptureJobStatus.PENDING
        dispatch.submit("capture", capture.uuid)
        queued.append(capture.uuid)
    return _cli(
        {"queued_snapshot_ids": queued, "num_queued": len(queued)},
        f"Queued {len(queued)} snapshots",
    )


def _search(body: dict[str, Any], user: User) -> dict[str, Any]:
    status = body.get("status")
    rows = _matching(body, user)
    if status in ("archived", "valid"):
        rows = [c for c in rows if c.status in ("succeeded", "sealed")]
    elif status == "unarchived":
        rows = [c for c in rows if c.status not in ("succeeded", "sealed")]
    elif status == "invalid":
        rows = [c for c in rows if c.status == "failed"]
    if body.get("as_csv") and body.get("as_json") is False:
        cols = [c.strip() for c in str(body["as_csv"]).split(",")]
        lines = [",".join(cols)] if body.get("with_headers") else []
        lines += [
            ",".join(str(getattr(c, "uuid" if f == "id" else f, "") or "") for f in cols)
            for c in rows
        ]
        return _cli("\n".join(lines), fmt="csv")
    with session_scope() as s:
        return _cli([shapes.snapshot(s, c) for c in rows])


@cli_router.post("/search", dependencies=[requires(Access.CAPTURE)])
def cli_search(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """``archivebox search`` (0.9) and ``list`` (0.8.5)."""
    return _search(body, user)


@cli_router.post("/list", dependencies=[requires(Access.CAPTURE)])
def cli_list(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    return _search(body, user)


@cli_router.post("/remove", dependencies=[requires(Access.CAPTURE)])
def cli_remove(
    user: User = Depends(current_user), body: dict[str, Any] = Body(default_factory=dict)
) -> dict[str, Any]:
    """``archivebox remove``: matching snapshots are withdrawn (files are kept)."""
    if not body.get("filter_patterns") and body.get("after") is None and body.get("before") is None:
        raise InvalidInput("filter_patterns (or after/before) is required")
    removed = [c.uuid for c in _matching(body, user)]
    with session_scope() as s:
        for uuid in removed:
            row = s.get(Capture, uuid)
            if row is not None:
                row.user_deleted, row.user_deleted_at = True, utcnow()
        remaining = len(s.exec(scope(s, user, live_snapshots())).all())
    return _cli(
        {
            "removed_count": len(removed),
            "removed_snapshot_ids": removed,
            "remaining_snapshots": remaining,
        },
        f"Removed {len(removed)} snapshots",
    )


# -- workers and machine ------------------------------------------------------------------
@workers_router.get("/workers", dependencies=[requires(Access.ADMIN)])
def workers() -> list[dict[str, Any]]:
    """The capture worker: what runs now and what waits."""
    with session_scope() as s:
        running = s.exec(select(Capture).where(col(Capture.status) == "started")).all()
        queued = s.exec(
            select(Capture)
            .join(CaptureJob, col(CaptureJob.capture_uuid) == col(Capture.uuid))
            .where(col(CaptureJob.status) == "pending")
            .order_by(col(CaptureJob.order))
        ).all()
        task = [
            {
                "TYPE": "core.models.Snapshot",
                "id": c.uuid,
                "description": c.url,
                "status": c.status,
                "retry_at": shapes.iso(c.retry_at),
                "created_at": shapes.iso(c.created_at),
                "modified_at": shapes.iso(c.modified_at),
                "created_by_id": str(c.created_by) if c.created_by else None,
            }
            for c in (*running, *queued)
        ]
    return [
        {
            "name": "capture",
            "model": "core.models.Snapshot",
            "max_tick_time": get_settings().capture_timeout,
            "max_concurrent_tasks": get_settings().worker_threads,
            "running_count": len(running),
            "running_workers": task[: len(running)],
            "queued_count": len(queued),
            "queue": task[len(running) :],
        }
    ]


@workers_router.get("/orchestrator", dependencies=[requires(Access.ADMIN)])
def orchestrator() -> dict[str, Any]:
    """The queue as it is: snapshots running and waiting, crawls not yet sealed."""
    with session_scope() as s:
        counts = dict(
            s.exec(select(Capture.status, func.count()).group_by(col(Capture.status))).all()
        )
        crawls = s.exec(select(Crawl.uuid, Capture.status).join(Capture)).all()
    by_crawl: dict[str, list[str]] = {}
    for crawl_uuid, status in crawls:
        by_crawl.setdefault(crawl_uuid, []).append(status)
    open_crawls = sum(crawl_status(v) != "sealed" for v in by_crawl.values())
    running, queued = counts.get("started", 0), counts.get("queued", 0)
    return {
        "is_running": running > 0,
        "poll_interval": 1,
        "idle_timeout": None,
        "max_crawl_workers": get_settings().worker_threads,
        "total_worker_count": running,
        "workers": ["capture"],
        "running_snapshots": running,
        "queued_snapshots": queued,
        "open_crawls": open_crawls,
        "dispatch": get_settings().dispatch,
    }


def _machine() -> dict[str, Any]:
    from custos.versions import software_versions

    try:
        versions: dict[str, Any] = dict(software_versions(""))
    except Exception:  # tool versions are informative only
        versions = {}
    uname = platform.uname()
    return {
        "id": socket.gethostname(),
        "guid": socket.gethostname(),
        "hostname": socket.gethostname(),
        "hw_in_docker": os.path.exists("/.dockerenv"),
        "hw_in_vm": False,
        "hw_manufacturer": None,
        "hw_product": None,
        "hw_uuid": None,
        "os_arch": uname.machine,
        "os_family": uname.system.lower(),
        "os_platform": platform.platform(),
        "os_release": uname.release,
        "os_kernel": uname.version,
        "python_version": sys.version.split()[0],
        "custos_version": __version__,
        "chromium": get_settings().chromium_executable(),
        "versions": versions,
        "stats": {"cpu_count": os.cpu_count()},
        "num_uses_succeeded": 0,
        "num_uses_failed": 0,
    }


@machine_router.get("/machine/current", dependencies=[requires(Access.ADMIN)])
def current_machine() -> dict[str, Any]:
    """Host, OS, Python, Chromium and tool versions of this server."""
    return _machine()


@machine_router.get("/machines", dependencies=[requires(Access.ADMIN)])
def machines() -> dict[str, Any]:
    items = [_machine()]
    return {
        "total_items": 1,
        "count": 1,
        "total_pages": 1,
        "page": 0,
        "limit": 200,
        "offset": 0,
        "num_items": 1,
        "items": items,
    }
