"""Archivematica's error bodies and status codes, in one place.

``ArchivematicaRoute`` wraps every endpoint of the dialect: ``AMError`` becomes its
exact body and status, the ``custos.errors`` tree is mapped to Archivematica's
``{"error": true, "message": ...}`` with the matching status, request validation
errors become 400, and anything unexpected becomes a generic 500 that is logged
with its traceback server-side and never shown to the client. Every response of
the dialect then gets ``X-Archivematica-Version`` and ``X-Archivematica-ID``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from custos.errors import (
    Conflict,
    CustosError,
    Forbidden,
    InvalidInput,
    NotFound,
)

log = logging.getLogger(__name__)

#: Advertised version: 1.19.0 is the first Archivematica with ``Idempotency-Key``.
AM_VERSION = "1.19.0"
GENERIC_500 = "Internal server error, see the server logs for details."

STATUS_FOR: tuple[tuple[type[CustosError], int], ...] = (
    (NotFound, 404),
    (InvalidInput, 400),
    (Conflict, 409),
    (Forbidden, 403),
)


class ErrorBody(BaseModel):
    """Archivematica's error body."""

    error: bool = True
    message: str


class AMError(Exception):
    """A response with an exact Archivematica body (errors and the odd ``removed``)."""

    def __init__(
        self,
        status_code: int,
        body: dict[str, Any] | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if body is None:
            body = {"error": True, "message": message or ""}
        super().__init__(str(body.get("message", body)))
        self.status_code = status_code
        self.body = body
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status_code, headers=self.headers)


def error(status_code: int, message: str) -> AMError:
    """The usual ``{"error": true, "message": ...}`` error."""
    return AMError(status_code, message=message)


def response_for(exc: BaseException) -> Response:
    """The client-facing response for an exception raised by an endpoint."""
    if isinstance(exc, AMError):
        return exc.response()
    if isinstance(exc, CustosError):
        status = next((code for cls, code in STATUS_FOR if isinstance(exc, cls)), 500)
        if status >= 500:
            log.error("Archivematica API: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return JSONResponse({"error": True, "message": exc.message}, status_code=status)
    if isinstance(exc, RequestValidationError):
        return JSONResponse({"error": True, "message": validation_message(exc)}, status_code=400)
    if isinstance(exc, HTTPException):
        return JSONResponse(
            {"error": True, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    log.error("Archivematica API: unexpected error", exc_info=exc)
    return JSONResponse({"error": True, "message": GENERIC_500}, status_code=500)


def validation_message(exc: RequestValidationError) -> str:
    """One line naming each invalid parameter."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


class ArchivematicaRoute(APIRoute):
    """Route class of the dialect: error mapping and Archivematica's headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except Exception as exc:  # mapped; 500s are logged in full
                response = response_for(exc)
            await add_am_headers(response)
            return response

        return handler


async def add_am_headers(response: Response) -> None:
    """Set the two headers every Archivematica API response carries."""
    from api.archivematica.identity import pipeline_uuid

    response.headers["X-Archivematica-Version"] = AM_VERSION
    response.headers["X-Archivematica-ID"] = await pipeline_uuid()
