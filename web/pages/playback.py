"""A capture's record page at its permanent link, ``/<GUID>`` (Perma's shape), and its views.

- ``GET /<GUID>``: the banner (original URL, capture date in UTC and the viewer's
  local time, the capturing user's organisation, status, links to the outputs)
  and, below it, the archived page replayed in a frame from the playback origin
  (``custos.playback``); in-progress captures refresh, failed ones say why;
- ``GET /<GUID>/screenshot``, ``/pdf``, ``/provenance``, ``/warc``, ``/wacz``: the
  files (archived bytes are never rendered as a page of this origin: each is an
  image, a download, or served under ``Content-Security-Policy: sandbox``); the PDF
  is viewed inline from the playback origin (``custos.playback.pdf_url``), and is a
  download here;
- ``GET /<GUID>/dom``: the saved DOM as text; ``GET /<GUID>/resources``: every
  recorded resource of the WARC (URL, status, MIME type, size);
- ``GET /archive/<timestamp>/``: ArchiveBox's snapshot page, sent to the record.

Public captures are shown to anyone, signed in or not; private ones only to the
users who may see them (``custos.playback.may_play``), others get a 404.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import FileResponse, RedirectResponse, Response

from custos.capture_contents import OUTPUT_VIEWS, output_file, resources, visible_text
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import Capture, User
from custos.playback import Record, embed_url, pdf_url, playback_origin, record
from web import security
from web.console import current_session, page_router, render

router = page_router()
NAV: list[Any] = []
#: Archived bytes served by the console origin run nothing and load nothing.
SANDBOXED = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; "
    "style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
#: What the frame may do: run the replay (scripts, its own origin for the service
#: worker, forms) but never navigate the console's window or open pop-ups.
FRAME_SANDBOX = "allow-scripts allow-same-origin allow-forms allow-downloads"


class GuidConvertor(Convertor[str]):
    """Perma's GUID: groups of four letters or digits joined by hyphens (``ABCD-1234``)."""

    regex = r"[0-9A-Za-z]{4}(?:-[0-9A-Za-z]{4})+"

    def convert(self, value: str) -> str:
        return value.upper()

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("guid", GuidConvertor())


async def _viewer(request: Request) -> User | None:
    found = await current_session(request)
    return found[0] if found else None


def _views(found: Record) -> dict[str, Any]:
    """What every page of the record shows: the record, and its PDF's inline address
    on the playback origin (a PDF may carry scripts: never shown on this origin)."""
    pdf_view = pdf_url(found.capture.guid) if "pdf" in found.outputs else None
    return {"r": found, "c": found.capture, "pdf_view": pdf_view}


def _record(user: User | None, guid: str) -> Record:
    with session_scope() as s:
        return record(s, user, guid)


def _file(user: User | None, guid: str, view: str) -> tuple[Record, Path]:
    with session_scope() as s:
        found = record(s, user, guid)
        path = output_file(s, found.capture, view)
    if path is None:
        raise NotFound(f"This capture has no {view}.")
    return found, path


@router.get("/{guid:guid}")
async def record_page(request: Request, guid: str) -> Response:
    """The banner and the replay frame."""
    user = await _viewer(request)
    found = await run_in_threadpool(_record, user, guid)
    origin = playback_origin()
    embed = embed_url(found.capture.guid) if found.playable else None
    response = render(
        request,
        "captures/record.html",
        {**_views(found), "embed": embed, "sandbox": FRAME_SANDBOX},
    )
    response.headers["Content-Security-Policy"] = f"{security.CSP}; frame-src {origin}"
    if found.in_progress:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/{guid:guid}/screenshot")
async def screenshot(request: Request, guid: str) -> Response:
    _, path = await run_in_threadpool(_file, await _viewer(request), guid, "screenshot")
    return FileResponse(path, media_type="image/png", headers=SANDBOXED)


@router.get("/{guid:guid}/pdf")
async def pdf(request: Request, guid: str) -> Response:
    found, path = await run_in_threadpool(_file, await _viewer(request), guid, "pdf")
    name = f"{found.capture.guid}.pdf"
    return FileResponse(path, media_type="application/pdf", filename=name, headers=SANDBOXED)


@router.get("/{guid:guid}/provenance")
async def provenance(request: Request, guid: str) -> Response:
    _, path = await run_in_threadpool(_file, await _viewer(request), guid, "provenance")
    return FileResponse(path, media_type=OUTPUT_VIEWS["provenance"][1], headers=SANDBOXED)


def _archive(user: User | None, guid: str, kind: str) -> tuple[Capture, Path]:
    found = _record(user, guid)
    name = found.capture.wacz_path if kind == "wacz" else found.capture.warc_path
    if not name or not Path(name).is_file():
        raise NotFound(f"This capture has no {kind.upper()}.")
    return found.capture, Path(name)


@router.get("/{guid:guid}/warc")
async def warc(request: Request, guid: str) -> Response:
    capture, path = await run_in_threadpool(_archive, await _viewer(request), guid, "warc")
    return FileResponse(
        path, media_type="application/gzip", filename=f"{capture.guid}.warc.gz", headers=SANDBOXED
    )


@router.get("/{guid:guid}/wacz")
async def wacz(request: Request, guid: str) -> Response:
    capture, path = await run_in_threadpool(_archive, await _viewer(request), guid, "wacz")
    return FileResponse(
        path, media_type="application/wacz", filename=f"{capture.guid}.wacz", headers=SANDBOXED
    )


def _dom(user: User | None, guid: str) -> tuple[Record, str, str]:
    found, path = _file(user, guid, "dom")
    source = path.read_text(encoding="utf-8", errors="replace")
    return found, visible_text(source), source


@router.get("/{guid:guid}/dom")
async def dom(request: Request, guid: str) -> Response:
    """The saved DOM: its visible text, and its source (as text, never as a page)."""
    found, text, source = await run_in_threadpool(_dom, await _viewer(request), guid)
    return render(
        request,
        "captures/dom.html",
        {**_views(found), "text": text, "source": source},
    )


def _resources(user: User | None, guid: str) -> tuple[Record, list[Any]]:
    found = _record(user, guid)
    return found, resources(found.capture)


@router.get("/{guid:guid}/resources")
async def resource_list(request: Request, guid: str) -> Response:
    """Every recorded resource of the capture's WARC."""
    found, rows = await run_in_threadpool(_resources, await _viewer(request), guid)
    return render(request, "captures/resources.html", {**_views(found), "rows": rows})


_TIMESTAMP = re.compile(r"^\d+(\.\d+)?$")


def _by_timestamp(user: User | None, timestamp: str) -> str:
    if not _TIMESTAMP.match(timestamp):
        raise NotFound("Not found.")
    with session_scope() as s:
        guid = s.exec(select(Capture.guid).where(col(Capture.timestamp) == timestamp)).first()
        if guid is None:
            raise NotFound("Not found.")
        return record(s, user, guid).capture.guid  # NotFound unless the viewer may see it


@router.get("/archive/{timestamp}")
@router.get("/archive/{timestamp}/")
@router.get("/archive/{timestamp}/index.html")
async def archivebox_snapshot(request: Request, timestamp: str) -> Response:
    """ArchiveBox's snapshot page (``/archive/<timestamp>/``): the capture's record."""
    guid = await run_in_threadpool(_by_timestamp, await _viewer(request), timestamp)
    return RedirectResponse(f"/{guid}", status_code=302)
