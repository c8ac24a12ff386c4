"""The status polls answered before FastAPI's routing, for the common case.

``GET /api/transfer/status/<uuid>`` and ``GET /api/ingest/status/<uuid>`` are what
every Archivematica client polls, every few seconds per unit. Through FastAPI a
poll spends more time in routing, dependency solving and wrappers than in its
query (``bench/api_status.py``). ``StatusFastPath`` is a small ASGI middleware
that answers the poll directly when everything about it is already known:

- the path is exactly a status path with a well-formed UUID and the method GET;
- the credentials come in the ``Authorization: ApiKey user:key`` header and are in
  this process's credential cache (``auth.cached_principal``: validated in the
  last ``CACHE_SECONDS`` by the regular route, not withdrawn and not expired
  since), and their role has the access the status routes require (read from
  those routes by ``install``, so it is stated in one place);
- the pipeline UUID is cached.

It then calls the same ``units.unit_status`` as the route, through ``api.reads.read``
as the route does (on the event loop for SQLite, in the thread pool for
PostgreSQL), maps ``AMError`` the same way and sets the same headers, so the
answer is byte-for-byte the route's (``tests/api/test_am_fastpath.py`` compares
both). Anything else, including any
unexpected exception, falls through to the regular route, which answers it with
full validation, authentication and error mapping.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.archivematica import auth, identity, units
from api.archivematica.errors import AM_VERSION, AMError
from api.reads import read
from api.roles import Access, allows
from custos.models import UnitType

STATUS_PATH = re.compile(r"/api/(transfer|ingest)/status/([\w]{8}(?:-[\w]{4}){3}-[\w]{12})/?")
KINDS = {"transfer": UnitType.TRANSFER, "ingest": UnitType.SIP}


class StatusFastPath:
    """ASGI middleware answering cached-credential status polls directly."""

    #: polls answered here, in this process (tests read it to know who answered)
    served = 0

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(scope) if scope["type"] == "http" else None
        if response is None:
            await self.app(scope, receive, send)
            return
        StatusFastPath.served += 1
        await response(scope, receive, send)

    async def _answer(self, scope: Scope) -> JSONResponse | None:
        """The poll's response, or None to let the regular route answer."""
        if scope["method"] != "GET":
            return None
        match = STATUS_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        pipeline = identity.cached_pipeline_uuid()
        if pipeline is None:
            return None
        creds = auth.parse_header(_header(scope, b"authorization"))
        if creds is None or not creds[0] or not creds[1]:
            return None
        who = auth.cached_principal(creds[0], creds[1])
        if who is None or not allows(self.access, who.role):
            return None  # the route answers, with its 403
        try:
            body: dict[str, Any] = await read(units.unit_status, match[2], KINDS[match[1]])
            response = JSONResponse(body)
        except AMError as exc:
            response = exc.response()
        except Exception:  # the route answers, logs and maps it
            return None
        response.headers["X-Archivematica-Version"] = AM_VERSION
        response.headers["X-Archivematica-ID"] = pipeline
        return response


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), as Starlette reads it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
