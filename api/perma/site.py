"""Perma's app-level behaviour for ``/v1/`` paths: CORS and the plain-text 404 page.

- Unmatched URLs under ``/v1/`` answer Perma's ``handler404``: plain text ``Page Not
  Found`` (404); a known path with a method it lacks answers DRF's 405.
- Perma's CORS middleware (capture.md 1.1): every ``/v1/`` response carries
  ``Access-Control-Allow-Origin`` (the request's Origin, else ``*``),
  ``Access-Control-Allow-Headers: Authorization,Content-Type`` and
  ``Access-Control-Allow-Methods: *``; an ``OPTIONS`` preflight is answered 200
  whatever the credentials.

Other paths are left to the app's handlers untouched.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/v1"


def is_perma_path(path: str) -> bool:
    """True for Perma's ``/v1`` and ``/v1/...`` paths (not ArchiveBox's ``/api/v1/``)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def cors_headers(origin: str | None) -> dict[str, str]:
    """Perma's CORS headers for a request from ``origin``."""
    return {
        "Access-Control-Allow-Origin": origin or "*",
        "Access-Control-Allow-Headers": "Authorization,Content-Type",
        "Access-Control-Allow-Methods": "*",
    }


class PermaCORS:
    """ASGI middleware: CORS headers on ``/v1/`` responses, preflights answered 200."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_perma_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        origin = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"), None)
        headers = cors_headers(origin)
        if scope["method"] == "OPTIONS":
            response = Response(status_code=200, headers={**headers, "Allow": "*"})
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in {h.lower() for h in headers}
                ]
                raw += [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
                ]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def install(app: FastAPI) -> None:
    """Register the ``/v1/`` 404/405 pages and the CORS middleware on ``app``."""
    previous: Any = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and is_perma_path(request.url.path):
            if exc.status_code == 404:
                return PlainTextResponse("Page Not Found", 404)
            if exc.status_code == 405:
                return JSONResponse(
                    {"detail": f'Method "{request.method}" not allowed.'},
                    405,
                    headers=dict(exc.headers or {}),
                )
        response: Response = await previous(request, exc)
        return response

    app.add_exception_handler(StarletteHTTPException, not_found)
    app.add_middleware(PermaCORS)
