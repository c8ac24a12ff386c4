"""Front-end packages served by the app itself (never from a CDN).

The packages are pinned in ``web/package.json`` and installed from the npm
registry by ``make`` (``npm ci`` into ``web/node_modules``). ``CUSTOS_WEB_ASSETS``
names another folder holding the same ``node_modules`` layout (an installed
Custos, a container image).

``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from
``/assets/<package>/...`` of this app, so both work on a machine without
internet. When the packages are missing the pages say how to install them
instead of rendering blank.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from custos.settings import get_settings

#: URL prefix -> folder inside ``node_modules`` (only these are served).
PACKAGES: dict[str, str] = {
    "swagger-ui": "swagger-ui-dist",
    "redoc": "redoc/bundles",
}
_SOURCE_TREE_ASSETS = Path(__file__).resolve().parents[1] / "web" / "node_modules"
#: The docs pages may load nothing from another origin (Redoc's footer logo points
#: at its vendor's CDN: the browser blocks it instead of fetching it).
_CSP = (
    "default-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; connect-src 'self'"
)
_MISSING = (
    "<!doctype html><title>{title}</title><h1>{title}</h1>"
    "<p>The front-end package <code>{package}</code> is not installed. "
    "Run <code>make setup</code> (it runs <code>npm ci</code> in <code>web/</code>), "
    "or set <code>CUSTOS_WEB_ASSETS</code> to a folder holding it.</p>"
    '<p>The machine-readable description is at <a href="{openapi}">{openapi}</a>.</p>'
)


def node_modules() -> Path:
    """The folder holding the installed npm packages."""
    configured = get_settings().web_assets
    return configured if configured is not None else _SOURCE_TREE_ASSETS


def install_api_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` with locally installed assets.

    The app must be created with ``docs_url=None, redoc_url=None``.
    """
    root = node_modules()
    openapi = app.openapi_url or "/openapi.json"
    for prefix, folder in PACKAGES.items():
        path = root / folder
        if path.is_dir():
            app.mount(f"/assets/{prefix}", StaticFiles(directory=path), name=f"assets-{prefix}")

    def missing(title: str, package: str) -> HTMLResponse:
        body = _MISSING.format(title=title, package=package, openapi=openapi)
        return HTMLResponse(body, status_code=503)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        if not (root / PACKAGES["swagger-ui"]).is_dir():
            return missing(f"{app.title} - Swagger UI", "swagger-ui-dist")
        page = get_swagger_ui_html(
            openapi_url=openapi,
            title=f"{app.title} - Swagger UI",
            swagger_js_url="/assets/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/assets/swagger-ui/favicon-32x32.png",
        )
        page.headers["Content-Security-Policy"] = _CSP
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        if not (root / PACKAGES["redoc"]).is_dir():
            return missing(f"{app.title} - ReDoc", "redoc")
        page = get_redoc_html(
            openapi_url=openapi,
            title=f"{app.title} - ReDoc",
            redoc_js_url="/assets/redoc/redoc.standalone.js",
            redoc_favicon_url="/assets/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = _CSP
        return page
