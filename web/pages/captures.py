"""Captures (``/captures``): submit URLs, see them with their screenshots, open one.

- ``GET /captures``: the submit form (one or many URLs, one a line, and the folder
  to capture into) and the user's captures, newest first, each with its screenshot
  as a thumbnail;
- ``POST /captures``: start a capture of each URL (``custos.capture_views.submit_urls``:
  Perma's rules, one batch for several URLs; the capture flow is submitted through
  ``custos.dispatch``);
- ``GET /captures/<GUID>``: the capture's record (original URL, dates, software and
  browser, TLS checks, every output with its status), its downloads and a link to its
  playback at ``/<GUID>``;
- ``GET /captures/<GUID>/file/<kind>``: ``warc``, ``wacz``, ``screenshot`` or ``pdf``.

Captures need the ``capture`` access (capture users and admins); each user sees the
captures of the folders they may reach, as in Perma.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response

from custos.access import Access
from custos.capture_views import (
    capture_file,
    capture_record,
    folder_choices,
    list_captures,
    submit_urls,
)
from custos.errors import InvalidInput
from custos.models import User
from web.console import NavItem, page_router, render, requires

router = page_router()
NAV = [NavItem("Captures", "/captures", Access.CAPTURE, order=50)]


def _int(value: str | None, default: int = 1, least: int = 1) -> int:
    """A number from the query string, at least ``least``; ``default`` when absent or bad."""
    try:
        return max(least, int(value or default))
    except ValueError:
        return default


async def _list_page(
    request: Request,
    user: User,
    *,
    error: str | None = None,
    urls: str = "",
    refused: list[tuple[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    q = request.query_params.get("q", "")
    page = await run_in_threadpool(list_captures, user, _int(request.query_params.get("page")), q=q)
    folders = await run_in_threadpool(folder_choices, user)
    context = {
        "page": page,
        "q": q,
        "folders": folders,
        "error": error,
        "urls": urls,
        "refused": refused or [],
        "started": _int(request.query_params.get("started"), 0, least=0),
    }
    return render(request, "captures/index.html", context, status_code=status_code)


@router.get("/captures")
async def captures_page(
    request: Request, user: User = Depends(requires(Access.CAPTURE))
) -> Response:
    return await _list_page(request, user)


@router.post("/captures")
async def submit(
    request: Request,
    urls: Annotated[str, Form(max_length=200_000)] = "",
    folder: Annotated[str, Form(max_length=20)] = "",
    user: User = Depends(requires(Access.CAPTURE)),
) -> Response:
    try:
        chosen = int(folder) if folder.strip() else None
        done = await run_in_threadpool(submit_urls, user, urls, chosen)
    except ValueError:
        return await _list_page(
            request, user, error="Choose a folder from the list.", urls=urls, status_code=400
        )
    except InvalidInput as exc:
        return await _list_page(request, user, error=str(exc), urls=urls, status_code=400)
    if done.refused:
        return await _list_page(
            request,
            user,
            error=f"{len(done.refused)} URL(s) refused; {len(done.captures)} capture(s) started.",
            urls="\n".join(url for url, _ in done.refused),
            refused=done.refused,
            status_code=400 if not done.captures else 200,
        )
    return RedirectResponse(f"/captures?started={len(done.captures)}", status_code=303)


@router.get("/captures/{guid}")
async def capture_page(
    request: Request, guid: str, user: User = Depends(requires(Access.CAPTURE))
) -> Response:
    record = await run_in_threadpool(capture_record, user, guid)
    return render(request, "captures/capture.html", {"r": record, "c": record.capture})


@router.get("/captures/{guid}/file/{kind}")
async def capture_download(
    guid: str, kind: str, user: User = Depends(requires(Access.CAPTURE))
) -> Response:
    path, media_type, name = await run_in_threadpool(capture_file, user, guid, kind)
    inline = kind in ("screenshot", "pdf")
    return FileResponse(
        path,
        media_type=media_type,
        filename=name,
        content_disposition_type="inline" if inline else "attachment",
    )
