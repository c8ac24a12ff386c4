"""Ingest (``/ingest``) and the backlog (``/backlog``).

- ``GET /ingest``: the SIPs, newest first, with live status; each SIP's page,
  decisions and removal come from ``web.pages.units`` under ``/ingest/<uuid>``;
- ``GET /backlog``: the transfers sent to the backlog (with a filter by name);
  ``POST /backlog/<uuid>/create-sip`` makes a SIP from one (``custos.backlog``).
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from custos import units as core_units
from custos.access import Access
from custos.backlog import create_sip_from_backlog
from custos.models import UnitType, User
from web.console import NavItem, page_router, render, requires
from web.pages.units import redirect, unit_routes

router = page_router()
NAV = [
    NavItem("Ingest", "/ingest", Access.READ, order=20),
    NavItem("Backlog", "/backlog", Access.READ, order=25),
]


@router.get("/ingest")
async def ingest_page(request: Request, _user: User = Depends(requires(Access.READ))) -> Response:
    rows = await run_in_threadpool(core_units.list_units, UnitType.SIP)
    return render(request, "ingest/index.html", {"rows": rows, "base": "/ingest", "label": "SIP"})


@router.get("/backlog")
async def backlog_page(
    request: Request, q: str = "", _user: User = Depends(requires(Access.READ))
) -> Response:
    rows = await run_in_threadpool(
        core_units.list_units, UnitType.TRANSFER, backlog=True, include_hidden=True
    )
    if q.strip():
        rows = [r for r in rows if q.strip().lower() in r.name.lower()]
    return render(request, "ingest/backlog.html", {"rows": rows, "q": q})


@router.post("/backlog/{uuid}/create-sip")
async def create_sip(
    request: Request, uuid: str, user: User = Depends(requires(Access.PROCESS))
) -> Response:
    """Make a SIP from a backlogged transfer (``custos.backlog``); go to the transfer."""
    await run_in_threadpool(create_sip_from_backlog, uuid, by=user.username)
    return redirect(request, f"/transfers/{uuid}")


unit_routes(router, UnitType.SIP, "/ingest")
