"""The dashboard (``/``): what is running, waiting, failing and stored.

Every signed-in user reaches it; the figures about units and AIPs need the
``read`` access (a ``capture`` user sees a short page pointing to their pages).
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from custos.access import Access, allows
from custos.models import User
from custos.overview import overview
from web.console import NavItem, page_router, render, signed_in

router = page_router()
NAV = [NavItem("Dashboard", "/", Access.PUBLIC, order=0)]


@router.get("/")
async def dashboard(request: Request, user: User = signed_in()) -> Response:
    figures = await run_in_threadpool(overview) if allows(Access.READ, user.role) else None
    return render(request, "dashboard/index.html", {"o": figures})


@router.get("/dashboard/live")
async def dashboard_live(request: Request, user: User = signed_in()) -> Response:
    """The dashboard's figures alone (htmx polls them every few seconds)."""
    figures = await run_in_threadpool(overview) if allows(Access.READ, user.role) else None
    return render(request, "dashboard/figures.html", {"o": figures})
