"""Perma's batches, capture jobs, ``/user`` and ``/organizations``."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from api.roles import Access
from custos.capture_batches import start_captures
from custos.captures import create_batch, ensure_root_folder, links_remaining, organization_ids
from custos.db import session_scope
from custos.errors import CustosError, Forbidden, InvalidInput, NotFound
from custos.models import Batch, Capture, CaptureJob, Folder, Organization, User

from . import links, shapes
from .archives import page_of, root_of
from .auth import current_user, requires
from .errors import PermaRouter

router = PermaRouter()
#: Custos' extensions of a capture (``POST /archives``) a batch passes to each of its own.
BATCH_EXTENSIONS = ("wacz", "pdf", "preserve")


def _own_batch(user: User, batch_id: int) -> Batch:
    with session_scope() as s:
        batch = s.get(Batch, batch_id)
    if batch is None:
        raise NotFound("Not found.")
    if batch.created_by != user.id and not user.is_admin:
        raise Forbidden("You do not have permission to perform this action.")
    return batch


@router.get("/archives/batches", dependencies=[requires(Access.CAPTURE)])
def list_batches(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """The user's batches, newest first."""
    query = (
        select(Batch)
        .where(col(Batch.created_by) == user.id)
        .order_by(col(Batch.started_on).desc(), col(Batch.id).desc())
    )
    return page_of(request, query, shapes.batch)


@router.post("/archives/batches", status_code=201, dependencies=[requires(Access.CAPTURE)])
async def create_batch_route(request: Request, user: User = Depends(current_user)) -> JSONResponse:
    """One capture per URL; per-URL errors land in that job, not in the response status."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise InvalidInput("json", {"detail": "content-type must be aplication/json"})
    try:
        data = await request.json()
    except ValueError as exc:
        raise InvalidInput("json", {"detail": "JSON parse error"}) from exc
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_make_batch, user, data if isinstance(data, dict) else {})


def _make_batch(user: User, data: dict[str, Any]) -> JSONResponse:
    urls = data.get("urls") or []
    if not isinstance(urls, list):
        raise InvalidInput("urls", {"urls": ["Expected a list of items."]})
    folder = data.get("target_folder")
    if folder in (None, ""):
        raise InvalidInput("target_folder", {"target_folder": ["This field is required."]})
    try:
        batch = create_batch(user, int(folder))
    except (TypeError, ValueError) as exc:
        raise InvalidInput("folder", {"target_folder": ["Folder not found."]}) from exc
    except InvalidInput as exc:
        raise InvalidInput("folder", {"target_folder": ["Folder not found."]}) from exc
    # Custos extensions, as on POST /archives: for every capture of the batch
    extensions = {key: data[key] for key in BATCH_EXTENSIONS if key in data}
    made: list[str] = []
    for url in urls:
        try:
            capture = links.create_link(
                user,
                {"url": url, "human": bool(data.get("human", False)), **extensions},
                folder=batch.target_folder_id,
                batch=batch.id,
                submit=False,
            )
            made.append(capture.uuid)
        except CustosError:
            pass  # recorded on the job as "invalid" with its message
    start_captures(made)  # one flow run for the batch: custos.capture_batches
    with session_scope() as s:
        body = shapes.batch(s, batch, detailed=False)
        remaining, period, _ = links_remaining(s, user)
    body["links_remaining"] = shapes.links_remaining_value(remaining)
    body["links_remaining_period"] = period
    return JSONResponse(body, 201)


@router.get("/archives/batches/{batch_id}", dependencies=[requires(Access.CAPTURE)])
def get_batch(batch_id: int, user: User = Depends(current_user)) -> dict[str, Any]:
    batch = _own_batch(user, batch_id)
    with session_scope() as s:
        return shapes.batch(s, batch)


@router.get("/archives/batches/{batch_id}/export", dependencies=[requires(Access.CAPTURE)])
def export_batch(batch_id: int, request: Request, user: User = Depends(current_user)) -> Response:
    """CSV: url,status(success|error),error_message,title,perma_link."""
    batch = _own_batch(user, batch_id)
    root = root_of(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("url", "status", "error_message", "title", "perma_link"))
    with session_scope() as s:
        for job in s.exec(
            select(CaptureJob)
            .where(col(CaptureJob.batch_id) == batch.id)
            .order_by(col(CaptureJob.id))
        ).all():
            capture = s.get(Capture, job.capture_uuid) if job.capture_uuid else None
            ok = capture is not None and job.status not in ("failed", "invalid")
            writer.writerow(
                (
                    job.submitted_url,
                    "success" if ok else "error",
                    shapes.job_error(job),
                    capture.title or "" if capture else "",
                    f"{root}/{capture.guid}" if capture else "",
                )
            )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="perma-batch-{batch.id}.csv"'},
    )


@router.get("/capture_jobs", dependencies=[requires(Access.CAPTURE)])
def list_jobs(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """The user's pending and in-progress jobs, in queue order."""
    query = (
        select(CaptureJob)
        .where(
            col(CaptureJob.created_by) == user.id,
            col(CaptureJob.status).in_(("pending", "in_progress")),
        )
        .order_by(col(CaptureJob.order), col(CaptureJob.id))
    )
    return page_of(request, query, shapes.capture_job)


@router.get("/capture_jobs/{ref}", dependencies=[requires(Access.CAPTURE)])
def get_job(ref: str, user: User = Depends(current_user)) -> dict[str, Any]:
    """A job by numeric id or by its link's GUID."""
    with session_scope() as s:
        if ref.isdigit():
            job = s.get(CaptureJob, int(ref))
        else:
            capture = links.get_capture(s, ref)
            job = s.exec(
                select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)
            ).first()
        if job is None:
            raise NotFound("Not found.")
        if job.created_by != user.id and not user.is_admin:
            owned = s.get(Capture, job.capture_uuid) if job.capture_uuid else None
            if owned is None or not links.can_edit(s, user, owned):
                raise Forbidden("You do not have permission to perform this action.")
        return shapes.capture_job(s, job)


@router.get("/user", dependencies=[requires(Access.CAPTURE)])
def current(user: User = Depends(current_user)) -> dict[str, Any]:
    """The caller with their top-level folders."""
    with session_scope() as s:
        root = ensure_root_folder(s, user)
        org_ids = organization_ids(s, user)
        shared = s.exec(
            select(Folder)
            .join(Organization, col(Organization.shared_folder_id) == col(Folder.id))
            .where(col(Organization.id).in_(org_ids or [-1]))
            .order_by(col(Organization.name))
        ).all()
        body = shapes.user_brief(user) or {}
        body["top_level_folders"] = [shapes.folder(s, f) for f in (root, *shared)]
        return body


@router.get("/organizations", dependencies=[requires(Access.CAPTURE)])
def list_orgs(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """Organizations the user belongs to; ``?order_by=name|registrar``."""
    with session_scope() as s:
        ids = organization_ids(s, user)
    order = request.query_params.get("order_by", "name")
    field = {
        "name": col(Organization.name),
        "-name": col(Organization.name).desc(),
        "registrar": col(Organization.registrar),
        "-registrar": col(Organization.registrar).desc(),
    }.get(order, col(Organization.name))
    query = select(Organization).where(col(Organization.id).in_(ids or [-1])).order_by(field)
    return page_of(request, query, shapes.organization)


@router.get("/organizations/{org_id}", dependencies=[requires(Access.CAPTURE)])
def get_org(org_id: int, user: User = Depends(current_user)) -> dict[str, Any]:
    with session_scope() as s:
        org = s.get(Organization, org_id)
        if org is None:
            raise NotFound("Not found.")
        if org_id not in organization_ids(s, user):
            raise Forbidden("You do not have permission to perform this action.")
        return shapes.organization(s, org)
