"""The archivist's console: server-rendered pages at ``/`` of the API's port.

Another driver over the core, like ``api`` and ``cli``: it imports ``custos``
only and starts work through ``custos.dispatch`` (via the core functions such
as ``custos.transfers.start_transfer``), never importing flows or tasks.
``api.app.create_app`` calls ``install(app)``, so ``custos serve`` serves it.

How it is built (docs/console.md says more):

- ``web.console``: ``page_router()`` (routes that check CSRF, redirect to sign-in,
  render errors and set the CSP headers), ``requires(Access.X)`` (the signed-in
  user whose role the shared rule table ``custos.access`` admits), ``render()``
  (Jinja2 templates in ``web/templates``), ``NavItem``;
- ``web.security``: the signed session cookie, CSRF tokens, the headers;
- ``web.ratelimit``: sign-in attempts per user name and address;
- ``web.pages``: one module per page group, registered in ``web.pages.PAGES``.

Front-end packages (htmx) come from npm (``web/package.json``, ``npm ci``) and
are served from ``/assets/<package>/``; the console's own CSS and JavaScript
from ``/console/static/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from custos.settings import get_settings
from web import security

STATIC = Path(__file__).parent / "static"
_SOURCE_TREE_ASSETS = Path(__file__).parent / "node_modules"
#: URL prefix under /assets/ -> folder inside node_modules (only these are served).
PACKAGES: dict[str, str] = {"htmx": "htmx.org/dist"}


class ConsoleStatic(StaticFiles):
    """Static files with the console's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        security.add_headers(response)
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def node_modules() -> Path:
    """The folder holding the installed npm packages (``CUSTOS_WEB_ASSETS`` or web/)."""
    configured = get_settings().web_assets
    return configured if configured is not None else _SOURCE_TREE_ASSETS


def install(app: FastAPI) -> None:
    """Add the console's pages and static files to ``app``."""
    from web.pages import PAGES

    app.mount("/console/static", ConsoleStatic(directory=STATIC), name="console-static")
    for prefix, folder in PACKAGES.items():
        path = node_modules() / folder
        if path.is_dir():
            app.mount(f"/assets/{prefix}", ConsoleStatic(directory=path), name=f"assets-{prefix}")
    for page in PAGES:
        router: Any = page.router
        app.include_router(router)
