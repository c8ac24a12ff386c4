"""Archival storage (``/archival-storage``): find stored AIPs, look into one, act on it.

- ``GET /archival-storage``: the search form (name or UUID, accession, stored
  between, file name, PUID, format name, fixity state) and one page of results
  (``custos.aip_search``: filtered and paged in SQL);
- ``GET /archival-storage/<uuid>``: the AIP's METS summarised as a file tree (each
  file's size, format, checksum and events), its fixity history and its location;
- ``GET /archival-storage/<uuid>/download``: the stored AIP, streamed (a directory
  AIP as a tar);
- ``POST /archival-storage/<uuid>/verify``: "verify now", the ``fixity-audit`` flow
  for this AIP, submitted through ``custos.dispatch``;
- ``POST /archival-storage/<uuid>/reingest``: metadata, partial or full reingest
  (``custos.reingest.start_reingest``).

Reading needs ``read`` (auditors too); verifying and reingesting need ``process``.
"""

from __future__ import annotations

from itertools import islice
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response, StreamingResponse

from custos import dispatch, processing
from custos.access import Access
from custos.aip_read import stored_aip, stream_aip
from custos.aip_search import FIXITY_STATES, AipQuery, parse_query, search_aips
from custos.aip_summary import fixity_history, stored_mets_summary
from custos.db import session_scope
from custos.errors import CustosError, InvalidInput
from custos.models import Unit, User
from custos.reingest import start_reingest
from web.console import NavItem, page_router, render, requires

router = page_router()
NAV = [NavItem("Archival storage", "/archival-storage", Access.READ, order=40)]
BASE = "/archival-storage"
REINGEST_TYPES = {
    "metadata": "Metadata only",
    "partial": "Partial (metadata and objects' derivatives)",
    "full": "Full (everything, as a new transfer)",
}
#: Rows of the file tree an AIP page lists (an AIP of 100,000 files stays a usable page).
MAX_TREE_ROWS = 2000
FIXITY_LABELS = {"": "Any", "pass": "Passed", "fail": "Failed", "never": "Never checked"}
assert set(FIXITY_LABELS) == {"", *FIXITY_STATES}


def _page_link(params: dict[str, str], page: int) -> str:
    kept = {k: v for k, v in params.items() if v and k != "page"}
    return f"{BASE}?{urlencode({**kept, 'page': page})}"


@router.get("/archival-storage")
async def search_page(request: Request, _user: User = Depends(requires(Access.READ))) -> Response:
    params = dict(request.query_params.items())
    error = None
    try:
        query = parse_query(params)
        page_no = int(params.get("page", "1") or 1)
    except (InvalidInput, ValueError) as exc:
        error = str(exc) if isinstance(exc, InvalidInput) else "page must be a number"
        query, page_no = AipQuery(), 1
    results = None if error else await run_in_threadpool(search_aips, query, page=page_no)
    context: dict[str, Any] = {
        "params": params,
        "results": results,
        "error": error,
        "fixity_labels": FIXITY_LABELS,
        "page_link": lambda n: _page_link(params, n),
    }
    return render(request, "storage/search.html", context, status_code=400 if error else 200)


def _aip_context(uuid: str) -> dict[str, Any]:
    stored = stored_aip(uuid)
    mets, mets_error = None, None
    try:
        mets = stored_mets_summary(stored)
    except CustosError as exc:  # unreadable METS: the rest of the page still helps
        mets_error = str(exc)
    with session_scope() as s:
        sip = s.get(Unit, uuid)
        accession = sip.accession if sip else None
    rows = list(islice(mets.root.walk(), MAX_TREE_ROWS + 1)) if mets else []
    return {
        "aip": stored,
        "accession": accession,
        "mets": mets,
        "tree_rows": rows[:MAX_TREE_ROWS],
        "tree_truncated": len(rows) > MAX_TREE_ROWS,
        "mets_error": mets_error,
        "fixity": fixity_history(uuid),
        "reingest_types": REINGEST_TYPES,
        "configs": processing.list_names(),
    }


@router.get("/archival-storage/{uuid}")
async def aip_page(
    request: Request, uuid: str, _user: User = Depends(requires(Access.READ))
) -> Response:
    context = await run_in_threadpool(_aip_context, uuid)
    context["notice"] = {
        "verify": "Verification started: its result appears in the fixity history.",
        "reingest": "Reingest started.",
    }.get(request.query_params.get("notice", ""))
    return render(request, "storage/aip.html", context)


@router.get("/archival-storage/{uuid}/download")
async def download(uuid: str, _user: User = Depends(requires(Access.READ))) -> Response:
    stored = await run_in_threadpool(stored_aip, uuid)
    chunks = stream_aip(stored.path)
    headers = {"Content-Disposition": f'attachment; filename="{stored.download_name}"'}
    if stored.path.is_file():
        headers["Content-Length"] = str(stored.path.stat().st_size)
    media = "application/x-tar" if stored.path.is_dir() else "application/octet-stream"
    return StreamingResponse(chunks, media_type=media, headers=headers)


def _verify(uuid: str) -> None:
    stored_aip(uuid)  # NotFound before anything is submitted
    dispatch.submit("fixity-audit", uuids=[uuid])


@router.post("/archival-storage/{uuid}/verify")
async def verify(uuid: str, _user: User = Depends(requires(Access.PROCESS))) -> Response:
    await run_in_threadpool(_verify, uuid)
    return RedirectResponse(f"{BASE}/{uuid}?notice=verify", status_code=303)


@router.post("/archival-storage/{uuid}/reingest")
async def reingest(
    uuid: str,
    reingest_type: Annotated[str, Form(max_length=16)] = "metadata",
    processing_config: Annotated[str, Form(max_length=100)] = "",
    _user: User = Depends(requires(Access.PROCESS)),
) -> Response:
    if reingest_type not in REINGEST_TYPES:
        raise InvalidInput(f"unknown reingest type {reingest_type!r}")
    unit = await run_in_threadpool(
        start_reingest,
        uuid,
        reingest_type,  # type: ignore[arg-type]
        processing_config or None,
    )
    target = f"/transfers/{unit}" if reingest_type == "full" else f"/ingest/{unit}"
    return RedirectResponse(target, status_code=303)
