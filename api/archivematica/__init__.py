"""Archivematica's REST API (``/api/...``), wire-compatible with its clients.

Serves the 25 endpoints of Archivematica 1.17's dashboard API (plus the
``Idempotency-Key`` of 1.19, a ``PUT`` to upload processing configurations and
decision endpoints). ``router`` is included by ``api.app.create_app``, which
also calls ``install`` (the status polls' fast path, ``fastpath.py``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.archivematica import (
    decisions,
    ingest,
    jobs,
    metadata,
    package,
    processing_configs,
    transfer,
    validate,
)
from api.archivematica.fastpath import StatusFastPath
from api.archivematica.routing import AMRoutes, new_router
from api.roles import Access, route_access

router = new_router()
_routes = AMRoutes(router)
for _module in (transfer, ingest, package, jobs, validate, processing_configs, metadata, decisions):
    _module.register(_routes)
_routes.finish()


def status_access() -> Access:
    """The access the status routes require (the fast path checks the same)."""
    found = {
        access
        for route in router.routes
        if isinstance(route, APIRoute)
        and route.path.startswith(("/api/transfer/status/", "/api/ingest/status/"))
        and "GET" in (route.methods or ())
        for access in route_access(route)
    }
    if len(found) != 1:
        raise RuntimeError(f"the status routes must state one access, not {found}")
    return found.pop()


def install(app: FastAPI) -> None:
    """App-level behaviour of the dialect: the status polls' fast path."""
    app.add_middleware(StatusFastPath, access=status_access())


__all__ = ["install", "router"]
