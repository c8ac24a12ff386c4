"""What the Transfers and Ingest pages share: a unit's page, its live parts, its actions.

``unit_routes(router, kind, base)`` adds to ``router``, for units of ``kind``
under ``base`` (``/transfers`` or ``/ingest``):

- ``GET {base}/list``: the list's rows (htmx polls it every 2 s);
- ``GET {base}/{uuid}``: the unit's page (jobs grouped by microservice, tasks,
  PREMIS events, open decisions with their choices);
- ``GET {base}/{uuid}/live``: the page's changing part (polled every 2 s while
  the unit runs);
- ``GET {base}/{uuid}/jobs/{job}/tasks?offset=``: a job's tasks, ``TASK_PAGE`` at a
  time (fetched when the job's tasks are opened);
- ``POST {base}/{uuid}/decisions/{job}``: answer a decision (``process``);
- ``POST {base}/{uuid}/remove``: hide a finished unit from the list (``process``).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from custos import decisions
from custos import units as core_units
from custos.access import Access
from custos.errors import NotFound
from custos.models import UnitType, User
from custos.transfers import APPROVALS
from web.console import render, requires

#: Tasks shown at a time on a job (the next ones follow a "more" link).
TASK_PAGE = 200
#: The approval decisions of transfers: answered with Approve / Reject buttons.
APPROVAL_NAMES = frozenset(a.name for a in APPROVALS.values())


def redirect(request: Request, target: str) -> Response:
    """After a form: back to ``target`` (htmx: tell it where, so it reloads that page)."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Location": target})
    return RedirectResponse(target, status_code=303)


def _detail(uuid: str, kind: UnitType) -> core_units.UnitDetail:
    detail = core_units.unit_detail(uuid)
    if detail.unit.unit_type != kind:
        raise NotFound(f"no {'SIP' if kind == UnitType.SIP else 'transfer'} {uuid}")
    return detail


def version(detail: core_units.UnitDetail) -> str:
    """A digest of what the live part shows: unchanged, the poll answers 204 (no swap)."""
    parts = [str(detail.unit.status), str(len(detail.events)), str(len(detail.decisions))]
    parts += [f"{j.uuid}{j.status}{j.task_count}" for g in detail.groups for j in g.jobs]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def unit_routes(router: APIRouter, kind: UnitType, base: str) -> None:
    """Add the list, page, live and action routes of ``kind`` units under ``base``."""
    label = "SIP" if kind == UnitType.SIP else "transfer"

    @router.get(f"{base}/list", name=f"{label}-list")
    async def unit_list(request: Request, _user: User = Depends(requires(Access.READ))) -> Response:
        rows = await run_in_threadpool(core_units.list_units, kind, backlog=False)
        return render(request, "units/rows.html", {"rows": rows, "base": base, "label": label})

    @router.get(f"{base}/{{uuid}}", name=f"{label}-page")
    async def unit_page(
        request: Request, uuid: str, _user: User = Depends(requires(Access.READ))
    ) -> Response:
        detail = await run_in_threadpool(_detail, uuid, kind)
        context = {
            "d": detail,
            "base": base,
            "label": label,
            "version": version(detail),
            "approval_names": APPROVAL_NAMES,
        }
        return render(request, "units/page.html", context)

    @router.get(f"{base}/{{uuid}}/live", name=f"{label}-live")
    async def unit_live(
        request: Request, uuid: str, v: str = "", _user: User = Depends(requires(Access.READ))
    ) -> Response:
        detail = await run_in_threadpool(_detail, uuid, kind)
        current = version(detail)
        if v == current:
            return Response(status_code=204)
        context = {
            "d": detail,
            "base": base,
            "label": label,
            "version": current,
            "approval_names": APPROVAL_NAMES,
        }
        return render(request, "units/live.html", context)

    @router.get(f"{base}/{{uuid}}/jobs/{{job}}/tasks", name=f"{label}-tasks")
    async def tasks(
        request: Request,
        uuid: str,
        job: str,
        offset: int = 0,
        _user: User = Depends(requires(Access.READ)),
    ) -> Response:
        found, rows, total = await run_in_threadpool(
            core_units.job_tasks, uuid, job, offset, TASK_PAGE
        )
        context = {
            "job": found,
            "tasks": rows,
            "total": total,
            "offset": offset,
            "page": TASK_PAGE,
            "base": base,
            "uuid": uuid,
        }
        return render(request, "units/tasks.html", context)

    @router.post(f"{base}/{{uuid}}/decisions/{{job}}", name=f"{label}-decide")
    async def decide(
        request: Request,
        uuid: str,
        job: str,
        choice: Annotated[str, Form(max_length=100)],
        user: User = Depends(requires(Access.PROCESS)),
    ) -> Response:
        await run_in_threadpool(_detail, uuid, kind)  # 404 for a unit of another kind
        await run_in_threadpool(decisions.answer, job, choice, by=user.username)
        return redirect(request, f"{base}/{uuid}")

    @router.post(f"{base}/{{uuid}}/remove", name=f"{label}-remove")
    async def remove(
        request: Request, uuid: str, _user: User = Depends(requires(Access.PROCESS))
    ) -> Response:
        removed = await run_in_threadpool(core_units.hide, uuid, kind)
        if not removed:
            detail = await run_in_threadpool(_detail, uuid, kind)
            if not detail.done:
                from custos.errors import Conflict

                raise Conflict(f"the {label} {detail.unit.name} is still running")
        return redirect(request, base)
