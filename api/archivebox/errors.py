"""ArchiveBox's error bodies and response headers, in one place (its route class).

Auth failures are ``{"detail": "Unauthorized"}`` (401) or ArchiveBox's permission
message naming the caller's role (403, ``auth.role_refused``); bad input
``{"detail": msg}`` (400) and request validation ``{"detail": [...]}`` (422);
everything else is ArchiveBox's
``{"succeeded": false, "message": "<Class>: <msg>", "errors": [...]}`` with 404 for
missing objects and 503 otherwise, without the traceback ArchiveBox itself adds.
Every response carries ``Cache-Control: no-store`` and the ``X-ArchiveBox-Auth-*``
headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from custos.errors import CustosError, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)


class Unauthenticated(CustosError):
    """No or bad credentials (401)."""


def error_response(exc: Exception) -> Response:
    """The ArchiveBox response for an exception raised by a route or a dependency."""
    if isinstance(exc, Unauthenticated):
        return JSONResponse({"detail": "Unauthorized"}, 401)
    if isinstance(exc, Forbidden):
        return JSONResponse({"detail": exc.message}, 403)
    if isinstance(exc, InvalidInput):
        return JSONResponse({"detail": exc.message}, 400)
    if isinstance(exc, RequestValidationError):
        errors = [
            {k: v for k, v in err.items() if k in ("type", "loc", "msg")} for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, 422)
    if isinstance(exc, HTTPException):
        return JSONResponse({"detail": exc.detail}, exc.status_code)
    if isinstance(exc, CustosError):
        status = 404 if isinstance(exc, NotFound) else 503
        return JSONResponse(
            {
                "succeeded": False,
                "message": f"{type(exc).__name__}: {exc}",
                "errors": [exc.message],
            },
            status,
        )
    log.exception("archivebox: unexpected error")
    return JSONResponse(
        {
            "succeeded": False,
            "message": f"{type(exc).__name__}: internal error",
            "errors": ["The server could not complete the request."],
        },
        503,
    )


class ArchiveBoxRoute(APIRoute):
    """Maps errors to ArchiveBox's bodies; adds no-store, CORS and auth headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except Exception as exc:  # translated, never leaked
                response = error_response(exc)
            response.headers["Cache-Control"] = "no-store"
            response.headers["Access-Control-Allow-Origin"] = "*"
            for name, value in getattr(request.state, "archivebox_auth", {}).items():
                response.headers[name] = value
            return response

        return handler
