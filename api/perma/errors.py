"""Perma's error bodies, in one place: the route class every Perma route uses.

Django REST Framework shapes: ``{"detail": ...}`` for 401/403/404, field maps or
``{"error": [...]}`` (``NON_FIELD_ERRORS_KEY``) for 400. Anything unexpected is
logged and answered with a bare 500 body; no traceback reaches a client. The
router registers each path with and without its trailing slash (Perma's
``/?$``) and, where Perma has it, under the legacy ``user/`` prefix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from custos.errors import Conflict, CustosError, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

NO_PERMISSION = "You do not have permission to perform this action."
LEGACY_PREFIXED = ("/folders", "/archives", "/capture_jobs", "/organizations")


class Unauthenticated(CustosError):
    """No or bad credentials (401)."""


class PlainForbidden(Forbidden):
    """A 403 Perma answers in plain text (``Private archive.``)."""


def error_response(exc: Exception) -> Response:
    """The Perma response for an exception raised by a route or a dependency."""
    if isinstance(exc, Unauthenticated):
        return JSONResponse({"detail": exc.message}, 401, {"WWW-Authenticate": "ApiKey"})
    if isinstance(exc, PlainForbidden):
        return PlainTextResponse(exc.message, 403)
    if isinstance(exc, Forbidden):
        return JSONResponse({"detail": NO_PERMISSION}, 403)
    if isinstance(exc, NotFound):
        return JSONResponse({"detail": "Not found."}, 404)
    if isinstance(exc, InvalidInput):
        body = exc.details if exc.details is not None else {"error": [exc.message]}
        return JSONResponse(body, 400)
    if isinstance(exc, Conflict):
        return JSONResponse({"error": [exc.message]}, 400)
    if isinstance(exc, RequestValidationError):
        fields: dict[str, list[str]] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            fields.setdefault(loc[-1] if loc else "error", []).append(str(err.get("msg")))
        return JSONResponse(fields, 400)
    if isinstance(exc, HTTPException):
        return JSONResponse({"detail": exc.detail}, exc.status_code)
    if isinstance(exc, OverflowError):  # an id beyond the database's integers: no such row
        return JSONResponse({"detail": "Not found."}, 404)
    if isinstance(exc, CustosError):
        log.warning("perma: %s", exc)
        return JSONResponse({"detail": exc.message}, 500)
    log.exception("perma: unexpected error")
    return JSONResponse({"detail": "A server error occurred."}, 500)


class PermaRoute(APIRoute):
    """Maps every error to Perma's bodies and adds Perma's CORS headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except Exception as exc:  # translated, never leaked
                response = error_response(exc)
            response.headers["Access-Control-Allow-Origin"] = request.headers.get("origin", "*")
            response.headers["Access-Control-Allow-Headers"] = "Authorization,Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "*"
            return response

        return handler


class PermaRouter(APIRouter):
    """Registers each route with and without a trailing slash (and ``user/`` variants)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=PermaRoute, **kwargs)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        base = path.rstrip("/") or "/"
        variants = [base, base + "/"] if base != "/" else ["/"]
        if base.startswith(LEGACY_PREFIXED):
            variants += ["/user" + base, "/user" + base + "/"]
        for n, variant in enumerate(variants):
            options = dict(kwargs)
            if n:
                options["include_in_schema"] = False
                options.pop("operation_id", None)
                options["name"] = f"{options.get('name') or endpoint.__name__}_{n}"
            super().add_api_route(variant, endpoint, **options)
