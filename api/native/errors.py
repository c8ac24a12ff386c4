"""Custos' own error bodies: ``{"error": "<kind>", "message": "..."}``.

The one place where the native dialect maps the ``custos.errors`` tree to HTTP
status codes; routes raise domain errors only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from custos.errors import (
    ConfigError,
    Conflict,
    CustosError,
    Forbidden,
    InvalidInput,
    NotFound,
    StorageError,
)


class NotAuthenticated(CustosError):
    """No API key, or a key no active user owns."""


STATUS: list[tuple[type[CustosError], int]] = [
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (ConfigError, 503),
    (StorageError, 503),
    (CustosError, 500),
]


def error_response(exc: CustosError) -> JSONResponse:
    """The native body and status for a domain error."""
    status = next(code for kind, code in STATUS if isinstance(exc, kind))
    body: dict[str, Any] = {"error": type(exc).__name__, "message": exc.message}
    details = getattr(exc, "details", None)
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


class NativeRoute(APIRoute):
    """Routes of the native router answer ``CustosError`` with the native body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except CustosError as exc:
                return error_response(exc)

        return route
