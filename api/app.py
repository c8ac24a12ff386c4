"""The FastAPI application: Custos' own endpoints plus three wire dialects.

Each dialect is a package exposing ``router`` (an ``APIRouter`` whose route class
maps ``CustosError`` to that dialect's error bodies, see ``api/<dialect>/errors.py``):

- ``api.archivematica``: Archivematica's ``/api/...``
- ``api.perma``: Perma.cc's ``/v1/...``
- ``api.archivebox``: ArchiveBox's ``/api/v1/...``
- ``api.native``: Custos' own ``/custos/...`` (health, flows, units)

A dialect that is not installed yet is skipped, so the app always starts.
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI

from custos import __version__

log = logging.getLogger(__name__)

DIALECTS = ("api.native", "api.archivebox", "api.archivematica", "api.perma")


def create_app() -> FastAPI:
    """Build the app (no I/O: the database is migrated by ``custos serve``/``init``)."""
    app = FastAPI(
        title="Custos",
        version=__version__,
        description="Digital preservation processor. Speaks Archivematica's /api/, "
        "Perma.cc's /v1/ and ArchiveBox's /api/v1/ dialects.",
    )
    for name in DIALECTS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                log.debug("dialect %s not installed", name)
                continue
            raise
        app.include_router(module.router)
        install = getattr(module, "install", None)
        if install is not None:  # app-level hooks of a dialect (Perma: /v1/ 404, CORS)
            install(app)
    return app
