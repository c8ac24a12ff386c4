"""The playback origin: ReplayWeb.page and the archives it replays, nothing else.

``custos serve`` answers two host names (see ``custos.playback``): requests whose
``Host`` is the playback origin's go to this small app, every other request to the
console and the API. So the console and the API never serve replayed content, and
the playback origin never sees a console route, an API route or a cookie it would
honour (it reads none: a token in the path says which capture may be played).

Routes (all others are 404):

- ``/replay/ui.js`` and ``/replay/sw.js``: ReplayWeb.page from ``web/node_modules``
  (the service worker's scope is ``/replay/``); ``/replay/`` itself, asked for before
  the worker controls the frame, is a page that waits for it and loads again;
- ``/embed/<token>``: the page the console frames: ``<replay-web-page>`` replaying
  the capture the token names;
- ``/archive/<token>/<GUID>.wacz`` (or ``.warc.gz``): the capture's WACZ, else its
  WARC, with range requests;
- ``/pdf/<token>/<GUID>.pdf``: the capture's PDF, inline, for the browser's PDF
  viewer (a PDF may carry scripts: it is shown here, never on the console's origin).
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.assets import node_modules
from custos.capture_contents import output_file
from custos.captures import get_capture
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import Capture
from custos.playback import check_token, pdf_name, playback_host, replay_file

PACKAGE = "replaywebpage"
REPLAY_FILES = {"ui.js": "ui.js", "sw.js": "sw.js"}
#: The embed page runs ReplayWeb.page only; it may be framed (by the console page).
EMBED_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self' blob: data:; "
    "frame-src 'self' blob: data:; object-src 'none'; base-uri 'none'; form-action 'none'"
)
COMMON_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: The page the console frames. ReplayWeb.page's service worker is registered (with
#: the script URL and scope ReplayWeb.page registers) and active before the replay
#: frame exists, so the frame's first load is the worker's own page.
EMBED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>html,body{{margin:0;height:100%}}replay-web-page{{display:block;height:100%}}</style>
<script src="/replay/ui.js"></script>
</head><body>
<template id="replay"><replay-web-page source="{source}" url="{url}" replaybase="/replay/"
 embed="replayonly" nocache></replay-web-page></template>
<script>
(async () => {{
  try {{
    const reg = await navigator.serviceWorker.register(
      "/replay/sw.js?serveIndex=1", {{scope: "/replay/"}});
    await new Promise((done) => {{
      const check = () => reg.active && reg.active.state === "activated" && done();
      const watch = (w) => w && w.addEventListener("statechange", check);
      [reg.installing, reg.waiting, reg.active].forEach(watch);
      reg.addEventListener("updatefound", () => watch(reg.installing));
      check();
      setTimeout(done, 10000);
    }});
  }} catch (e) {{ /* ReplayWeb.page reports what the worker cannot do */ }}
  const template = document.getElementById("replay");
  document.body.appendChild(template.content.cloneNode(true));
}})();
</script>
</body></html>
"""


#: ``/replay/`` when the server, not ReplayWeb.page's service worker, answers it: the
#: frame is not the replay, whether or not a worker controls it by now (a worker that
#: activates during the load claims the page), so wait for the worker and load again;
#: after three tries within a minute, say so instead of loading forever.
WAITING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Loading the replay</title>
<script>
(() => {
  const key = "custos-replay-tries", now = Date.now();
  let tries = {since: now, count: 0};
  try { tries = JSON.parse(sessionStorage.getItem(key)) || tries; } catch (e) {}
  if (now - tries.since > 60000) tries = {since: now, count: 0};
  if (!("serviceWorker" in navigator) || tries.count >= 3) {
    document.addEventListener("DOMContentLoaded", () => {
      document.body.textContent = "The replay could not start in this browser: " +
        "it needs service workers and storage for this site (not a private window).";
    });
    return;
  }
  tries.count += 1;
  try { sessionStorage.setItem(key, JSON.stringify(tries)); } catch (e) {}
  navigator.serviceWorker.ready.then(() => setTimeout(() => location.reload(), 200));
})();
</script></head><body><p>Loading the replay ...</p></body></html>
"""


def archive_name(capture: Capture, path: Path) -> str:
    """``ABCD-1234.wacz`` or ``ABCD-1234.warc.gz``: ReplayWeb.page reads the suffix."""
    return f"{capture.guid}.wacz" if path.suffix == ".wacz" else f"{capture.guid}.warc.gz"


def _playable(token: str) -> tuple[Capture, Path]:
    guid = check_token(token)
    with session_scope() as s:
        capture = get_capture(s, guid)
    path = replay_file(capture)
    if capture.user_deleted or path is None:
        raise NotFound("Not found.")
    return capture, path


def create_playback_app() -> FastAPI:
    """The app of the playback origin."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(NotFound)
    async def not_found(_request: object, _exc: NotFound) -> Response:
        return PlainTextResponse("Not found.", status_code=404, headers=COMMON_HEADERS)

    @app.get("/replay/")
    @app.get("/replay/index.html")
    def replay_waiting() -> Response:
        headers = {**COMMON_HEADERS, "Content-Security-Policy": EMBED_CSP}
        return HTMLResponse(WAITING_PAGE, headers={**headers, "Cache-Control": "no-store"})

    @app.get("/replay/{name}")
    def replay_asset(name: str) -> Response:
        if name not in REPLAY_FILES:
            raise NotFound("Not found.")
        path = node_modules() / PACKAGE / REPLAY_FILES[name]
        if not path.is_file():
            return PlainTextResponse(
                "ReplayWeb.page is not installed: run `make setup` (npm ci in web/).",
                status_code=503,
            )
        headers = {**COMMON_HEADERS, "Cache-Control": "no-cache"}
        if name == "sw.js":
            headers["Service-Worker-Allowed"] = "/replay/"
        return FileResponse(path, media_type="text/javascript", headers=headers)

    @app.get("/embed/{token}")
    def embed(token: str) -> Response:
        capture, path = _playable(token)
        page = EMBED_PAGE.format(
            title=html.escape(capture.title or capture.url),
            source=html.escape(f"/archive/{token}/{archive_name(capture, path)}"),
            url=html.escape(capture.url),
        )
        headers = {
            **COMMON_HEADERS,
            "Content-Security-Policy": EMBED_CSP,
            "Cache-Control": "no-store",
        }
        return HTMLResponse(page, headers=headers)

    @app.get("/archive/{token}/{name}")
    @app.head("/archive/{token}/{name}")
    def archive(token: str, name: str) -> Response:
        capture, path = _playable(token)
        if name != archive_name(capture, path):
            raise NotFound("Not found.")
        media = "application/wacz" if path.suffix == ".wacz" else "application/warc"
        headers = {**COMMON_HEADERS, "Cache-Control": "private, max-age=3600"}
        return FileResponse(path, media_type=media, headers=headers)

    @app.get("/pdf/{token}/{name}")
    def pdf(token: str, name: str) -> Response:
        guid, path = _pdf(token)
        if name != pdf_name(guid):
            raise NotFound("Not found.")
        headers = {**COMMON_HEADERS, "Cache-Control": "private, max-age=3600"}
        return FileResponse(
            path,
            media_type="application/pdf",
            filename=name,
            content_disposition_type="inline",
            headers=headers,
        )

    return app


def _pdf(token: str) -> tuple[str, Path]:
    """The GUID and PDF of the capture the token names (``NotFound``: none)."""
    guid = check_token(token)
    with session_scope() as s:
        capture = get_capture(s, guid)
        found = None if capture.user_deleted else output_file(s, capture, "pdf")
        if found is None:
            raise NotFound("Not found.")
        return capture.guid, found


class PlaybackHost:
    """ASGI middleware: requests to the playback host go to ``playback``, others on.

    The host is compared by name only (ports are not isolation, and a reverse proxy
    may hide them); ``playback_host()`` is read once, at start-up.
    """

    def __init__(self, app: ASGIApp, playback: ASGIApp | None = None) -> None:
        self.app = app
        self.playback = playback or create_playback_app()
        self.host = playback_host()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.host is not None:
            if _host_name(scope) == self.host:
                await self.playback(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_name(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):
                return host[1:].partition("]")[0]
            return host.rpartition(":")[0] if ":" in host else host
    return ""
