"""``/api/transfer/...``: start, list, approve, poll, hide and reingest transfers."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Form, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.archivematica import reingest as reingest_mod
from api.archivematica import starting, units
from api.archivematica.auth import authenticated_user, requires
from api.archivematica.errors import AMError, ErrorBody, error
from api.archivematica.routing import AMRoutes
from api.reads import read
from api.roles import Access
from custos.errors import InvalidInput, NotFound
from custos.models import UnitType

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid request"},
    403: {"model": ErrorBody, "description": "API key not valid"},
}


class StatusBody(BaseModel):
    type: str
    path: str
    directory: str
    name: str
    uuid: str
    microservice: str
    status: str
    sip_uuid: str | None = None
    message: str


class ResultsBody(BaseModel):
    message: str
    results: list[Any]


class RemovedBody(BaseModel):
    removed: bool | list[str]


def register(r: AMRoutes) -> None:
    """Add the transfer endpoints to the dialect's routes."""
    tags = ["Archivematica: transfer"]

    @r.route(
        "/api/transfer/start_transfer/",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={200: {"description": "Copy successful"}, **ERRORS},
        summary="Start a transfer (waits for approval)",
    )
    async def start_transfer(
        name: str | None = Form(None),
        type: str | None = Form(None),
        accession: str | None = Form(None),
        access_system_id: str | None = Form(None),
        paths: list[str] = Form([], alias="paths[]"),
        row_ids: list[str] = Form([""], alias="row_ids[]"),  # noqa: ARG001  (arrange rows)
        user_id: int = Depends(authenticated_user),
    ) -> JSONResponse:
        if not name:
            raise error(400, "No transfer name provided.")
        if not paths:
            raise error(400, "No path provided.")
        started = await run_in_threadpool(
            lambda: starting.start(
                name=name,
                paths=paths,
                transfer_type=type or "standard",
                accession=accession,
                access_system_id=access_system_id,
                auto_approve=False,
                user_id=user_id,
            )
        )
        return JSONResponse({"message": "Copy successful.", "path": started.path})

    @r.route(
        "/api/transfer/unapproved",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": ResultsBody}, **ERRORS},
        summary="Transfers waiting for approval",
    )
    def unapproved_transfers() -> JSONResponse:
        return JSONResponse(
            {"message": "Fetched unapproved transfers successfully.", "results": units.unapproved()}
        )

    @r.route(
        "/api/transfer/approve",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={
            200: {"description": "Approval successful"},
            **ERRORS,
            404: {"model": ErrorBody, "description": "Nothing waits there"},
        },
        summary="Approve a transfer waiting in a directory",
    )
    def approve_transfer(
        directory: str | None = Form(None), type: str = Form("standard")
    ) -> JSONResponse:
        if not directory:
            raise error(400, "Please specify a transfer directory.")
        if type not in units.TRANSFER_TYPE_DIRS:
            raise error(400, "Invalid transfer type.")
        try:
            uuid = starting.approve(directory, type)
        except (NotFound, InvalidInput) as exc:
            raise error(404, "Unable to start the transfer.") from exc
        return JSONResponse({"message": "Approval successful.", "uuid": uuid})

    @r.route(
        "/api/transfer/status/{unit_uuid}",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": StatusBody}, **ERRORS},
        summary="Status of a transfer",
    )
    async def transfer_status(
        unit_uuid: str = Path(pattern=units.UUID_PATTERN),
    ) -> JSONResponse:
        return JSONResponse(await read(units.unit_status, unit_uuid, UnitType.TRANSFER))

    @r.route(
        "/api/transfer/completed",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": ResultsBody}, **ERRORS},
        summary="Completed, visible transfers",
    )
    def completed_transfers() -> JSONResponse:
        return JSONResponse(
            {
                "message": "Fetched completed transfers successfully.",
                "results": units.completed(UnitType.TRANSFER),
            }
        )

    add_hide_routes(r, [requires(Access.PROCESS)], "transfer", UnitType.TRANSFER, tags)

    @r.route(
        "/api/transfer/reingest",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={200: {"description": "Reingest started"}, **ERRORS},
        summary="Full reingest of a stored AIP (called by storage)",
    )
    def transfer_reingest(
        name: str | None = Form(None), uuid: str | None = Form(None)
    ) -> JSONResponse:
        new_uuid = reingest_mod.start(name, uuid, target="transfer")
        return JSONResponse({"message": "Approval successful.", "reingest_uuid": new_uuid})


def add_hide_routes(
    r: AMRoutes, deps: list[Any], kind: str, unit_type: UnitType, tags: list[str]
) -> None:
    """``DELETE /api/<kind>/<uuid>/delete/`` and ``DELETE /api/<kind>/delete/``."""

    @r.route(
        f"/api/{kind}/{{unit_uuid}}/delete/",
        ["DELETE"],
        dependencies=deps,
        tags=tags,
        responses={
            200: {"model": RemovedBody},
            409: {"model": RemovedBody},
            404: {"model": RemovedBody},
            403: ERRORS[403],
        },
        summary=f"Hide a finished {kind}",
        operation_id=f"hide_{kind}",
    )
    def hide(unit_uuid: str = Path(pattern=units.UUID_PATTERN)) -> JSONResponse:
        if units.hide(unit_uuid, unit_type):
            return JSONResponse({"removed": True})
        raise AMError(409, {"removed": False})

    @r.route(
        f"/api/{kind}/delete/",
        ["DELETE"],
        dependencies=deps,
        tags=tags,
        responses={200: {"model": RemovedBody}, 403: ERRORS[403]},
        summary=f"Hide every completed or failed {kind}",
        operation_id=f"hide_all_{kind}",
    )
    def hide_all() -> JSONResponse:
        return JSONResponse({"removed": units.hide_all(unit_type)})
