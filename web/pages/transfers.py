"""Transfers (``/transfers``): start one from the source browser, follow them, act on them.

- ``GET /transfers``: the start form (type, name, accession, processing
  configuration, the source-location tree) and the list of transfers (live);
- ``GET /transfers/browse?location=&path=``: one folder of a source location,
  as a fragment of the tree (each folder opens lazily);
- ``POST /transfers/start``: start a transfer of each selected entry
  (``custos.transfers.start_transfer``: it records the unit and submits the flow
  through ``custos.dispatch``; nothing is copied in the request);
- the unit pages and actions of ``web.pages.units`` under ``/transfers/<uuid>``,
  plus approve / reject of a transfer waiting for approval.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated

from fastapi import Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from custos import processing, sources, transfers
from custos.access import Access
from custos.errors import InvalidInput
from custos.models import TransferType, UnitType, User
from web.console import NavItem, page_router, render, requires
from web.pages.units import redirect, unit_routes

router = page_router()
NAV = [NavItem("Transfers", "/transfers", Access.READ, order=10)]

TYPE_LABELS = {
    "": "Detect from the selection",
    TransferType.STANDARD: "Standard (a folder)",
    TransferType.ZIPFILE: "Zipped or packaged folder",
    TransferType.BAG: "Unzipped bag",
    TransferType.ZIPPED_BAG: "Zipped bag",
}


def _start_context() -> dict[str, object]:
    return {
        "locations": sources.source_locations(),
        "configs": processing.list_names(),
        "types": TYPE_LABELS,
    }


@router.get("/transfers")
async def transfers_page(
    request: Request, _user: User = Depends(requires(Access.READ))
) -> Response:
    from custos import units as core_units

    rows = await run_in_threadpool(core_units.list_units, UnitType.TRANSFER, backlog=False)
    context = await run_in_threadpool(_start_context)
    context.update(
        rows=rows,
        base="/transfers",
        label="transfer",
        started=request.query_params.getlist("started"),
        error=None,
        form={},
    )
    return render(request, "transfers/index.html", context)


@router.get("/transfers/browse")
async def browse(
    request: Request,
    location: str,
    path: str = "",
    _user: User = Depends(requires(Access.PROCESS)),
) -> Response:
    entries = await run_in_threadpool(sources.browse, location, path)
    return render(
        request, "transfers/tree.html", {"entries": entries, "location": location, "path": path}
    )


def _start_all(
    selected: list[str],
    transfer_type: str,
    name: str,
    accession: str,
    config: str,
    approve: bool,
    user: User,
) -> list[str]:
    if not selected:
        raise InvalidInput("select at least one folder, zip or bag in the source locations")
    started = []
    for item in selected:
        location, _, relative = item.partition(":")
        ttype = transfer_type or sources.selected_type(location, relative)
        chosen = name.strip() if name.strip() and len(selected) == 1 else ""
        started.append(
            transfers.start_transfer(
                chosen or PurePosixPath(relative).name or "transfer",
                (location, relative),
                transfer_type=ttype,
                processing_config=config,
                accession=accession.strip() or None,
                auto_approve=approve,
                created_by=user.id,
            )
        )
    return started


@router.post("/transfers/start")
async def start(
    request: Request,
    source: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies it)
    transfer_type: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    accession: Annotated[str, Form(max_length=200)] = "",
    processing_config: Annotated[str, Form(max_length=100)] = "default",
    approve_at_once: Annotated[bool, Form()] = False,
    user: User = Depends(requires(Access.PROCESS)),
) -> Response:
    try:
        started = await run_in_threadpool(
            _start_all,
            source,
            transfer_type,
            name,
            accession,
            processing_config,
            approve_at_once,
            user,
        )
    except InvalidInput as exc:
        from custos import units as core_units

        rows = await run_in_threadpool(core_units.list_units, UnitType.TRANSFER, backlog=False)
        context = await run_in_threadpool(_start_context)
        context.update(
            rows=rows,
            base="/transfers",
            label="transfer",
            started=[],
            error=str(exc),
            form={
                "name": name,
                "accession": accession,
                "transfer_type": transfer_type,
                "processing_config": processing_config,
                "approve_at_once": approve_at_once,
            },
        )
        return render(request, "transfers/index.html", context, status_code=400)
    if len(started) == 1:
        return redirect(request, f"/transfers/{started[0]}")
    return redirect(request, "/transfers?" + "&".join(f"started={u}" for u in started))


@router.post("/transfers/{uuid}/approve")
async def approve(
    request: Request, uuid: str, user: User = Depends(requires(Access.PROCESS))
) -> Response:
    await run_in_threadpool(transfers.approve_transfer, uuid, by=user.username)
    return redirect(request, f"/transfers/{uuid}")


@router.post("/transfers/{uuid}/reject")
async def reject(
    request: Request, uuid: str, user: User = Depends(requires(Access.PROCESS))
) -> Response:
    from custos import decisions

    decision = await run_in_threadpool(transfers.approval_decision, uuid)
    if decision is None:
        from custos.errors import Conflict

        raise Conflict(f"transfer {uuid} is not awaiting approval")
    await run_in_threadpool(
        decisions.answer, decision.job_uuid, transfers.REJECT_CHAIN, by=user.username
    )
    return redirect(request, f"/transfers/{uuid}")


unit_routes(router, UnitType.TRANSFER, "/transfers")
