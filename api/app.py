"""The FastAPI application: Custos' own endpoints plus three wire dialects.

Each dialect is a package exposing ``router`` (an ``APIRouter`` whose route class
maps ``CustosError`` to that dialect's error bodies, see ``api/<dialect>/errors.py``)
and, optionally, ``install(app)`` for app-level behaviour (Perma: the plain-text
404 page and CORS of ``/v1/`` paths):

- ``api.archivematica``: Archivematica's ``/api/...``
- ``api.perma``: Perma.cc's ``/v1/...``
- ``api.archivebox``: ArchiveBox's ``/api/v1/...``
- ``api.native``: Custos' own ``/custos/...`` (health, flows, units)

A dialect that is not installed yet, or whose package has no ``router`` (an empty
or half-written package), is skipped with a warning, so the app always starts.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from fastapi import APIRouter, FastAPI

from api.assets import install_api_docs
from custos import __version__

log = logging.getLogger(__name__)

#: Order of inclusion. Requests are matched against routes in this order, so the
#: dialect with the hottest paths (Archivematica's status polls) comes first: it
#: measurably cuts the status poll's cost. No two dialects share a path.
DIALECTS = ("api.archivematica", "api.native", "api.archivebox", "api.perma")


def load_dialect(name: str) -> ModuleType | None:
    """The dialect package ``name``, or None when it is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):  # the package itself is missing
            log.debug("dialect %s not installed", name)
            return None
        raise  # a missing dependency inside the dialect is a real error


def create_app() -> FastAPI:
    """Build the app (no I/O: the database is migrated by ``custos serve``/``init``)."""
    app = FastAPI(
        title="Custos",
        version=__version__,
        description="Digital preservation processor. Speaks Archivematica's /api/, "
        "Perma.cc's /v1/ and ArchiveBox's /api/v1/ dialects.",
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    for name in DIALECTS:
        module = load_dialect(name)
        if module is None:
            continue
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            log.warning("dialect %s has no APIRouter named router: skipped", name)
            continue
        app.include_router(router)
        install = getattr(module, "install", None)
        if callable(install):  # app-level hooks of a dialect (Perma: /v1/ 404, CORS)
            install(app)
    return app
