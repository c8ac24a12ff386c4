"""Ingest (``/ingest``) and the backlog (``/backlog``).

- ``GET /ingest``: the SIPs, newest first, with live status; each SIP's page,
  decisions and removal come from ``web.pages.units`` under ``/ingest/<uuid>``;
- ``GET /backlog``: the transfers sent to the backlog (with a filter by name).
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from custos import units as core_units
from custos.access import Access
from custos.models import UnitType, User
from web.console import NavItem, page_router, render, requires
from web.pages.units import unit_routes

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


unit_routes(router, UnitType.SIP, "/ingest")
