"""The FastAPI application: Custos' own endpoints plus three wire dialects.

Each dialect is a package exposing ``router`` (an ``APIRouter`` whose route class
maps ``CustosError`` to that dialect's error bodies, see ``api/<dialect>/errors.py``)
and ``install(app)`` for app-level behaviour (Perma: the plain-text 404 page and
CORS of ``/v1/`` paths):

- ``api.archivematica``: Archivematica's ``/api/...``
- ``api.native``: Custos' own ``/custos/...`` (health, flows, units)
- ``api.archivebox``: ArchiveBox's ``/api/v1/...``
- ``api.perma``: Perma.cc's ``/v1/...``

The dialects are imported plainly: a broken one fails start-up (and the tests).
The archivist's console (``web``, another driver over the core) is added last:
its pages live at ``/`` and paths no dialect uses (see docs/console.md).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from fastapi import FastAPI

import api.archivebox
import api.archivematica
import api.native
import api.perma
import web
from api.assets import install_api_docs
from custos import __version__

#: Order of inclusion. Requests are matched against routes in this order, so the
#: dialect with the hottest paths (Archivematica's status polls) comes first: it
#: measurably cuts the status poll's cost. No two dialects share a path.
DIALECTS: tuple[ModuleType, ...] = (api.archivematica, api.native, api.archivebox, api.perma)


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
    for dialect in DIALECTS:
        app.include_router(dialect.router)
        install: Callable[[FastAPI], None] | None = getattr(dialect, "install", None)
        if install is not None:  # app-level hooks of a dialect (Perma: /v1/ 404, CORS)
            install(app)
    web.install(app)
    return app
