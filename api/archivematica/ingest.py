"""``/api/ingest/...``: poll, list, hide, reingest SIPs and add metadata files."""

from __future__ import annotations

from fastapi import Form, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.archivematica import reingest as reingest_mod
from api.archivematica import units
from api.archivematica.auth import requires
from api.archivematica.errors import ErrorBody, error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS, ResultsBody, StatusBody, add_hide_routes
from api.reads import read
from api.roles import Access
from custos import sip_metadata
from custos.errors import NotFound
from custos.models import UnitType


def register(r: AMRoutes) -> None:
    """Add the ingest endpoints to the dialect's routes."""
    tags = ["Archivematica: ingest"]

    @r.route(
        "/api/ingest/status/{unit_uuid}",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": StatusBody}, **ERRORS},
        summary="Status of a SIP",
    )
    async def ingest_status(unit_uuid: str = Path(pattern=units.UUID_PATTERN)) -> JSONResponse:
        return JSONResponse(await read(units.unit_status, unit_uuid, UnitType.SIP))

    @r.route(
        "/api/ingest/waiting",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": ResultsBody}, **ERRORS},
        summary="Units (transfers and SIPs) waiting at a decision",
    )
    def waiting_for_user_input() -> JSONResponse:
        return JSONResponse({"message": "Fetched units successfully.", "results": units.waiting()})

    @r.route(
        "/api/ingest/completed",
        ["GET"],
        dependencies=[requires(Access.READ)],
        tags=tags,
        responses={200: {"model": ResultsBody}, **ERRORS},
        summary="Completed, visible SIPs",
    )
    def completed_ingests() -> JSONResponse:
        return JSONResponse(
            {
                "message": "Fetched completed ingests successfully.",
                "results": units.completed(UnitType.SIP),
            }
        )

    add_hide_routes(r, [requires(Access.PROCESS)], "ingest", UnitType.SIP, tags)

    @r.route(
        "/api/ingest/reingest",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={200: {"description": "Reingest started"}, **ERRORS},
        summary="Partial (metadata) reingest of a stored AIP",
    )
    def ingest_reingest(
        name: str | None = Form(None), uuid: str | None = Form(None)
    ) -> JSONResponse:
        new_uuid = reingest_mod.start(name, uuid, target="ingest")
        return JSONResponse({"message": "Approval successful.", "reingest_uuid": new_uuid})

    @r.route(
        "/api/ingest/reingest/approve",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={200: {"description": "Approval successful"}, **ERRORS},
        summary="Approve a partial reingest waiting for approval",
    )
    def reingest_approve(uuid: str | None = Form(None)) -> JSONResponse:
        reingest_mod.approve(uuid)
        return JSONResponse({"message": "Approval successful."})

    @r.route(
        "/api/ingest/copy_metadata_files/",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        status_code=201,
        responses={201: {"description": "Files added"}, **ERRORS, 404: {"model": ErrorBody}},
        summary="Copy files from transfer sources into a SIP's metadata folder",
    )
    async def copy_metadata_files_api(
        sip_uuid: str | None = Form(None),
        source_paths: list[str] = Form([], alias="source_paths[]"),
    ) -> JSONResponse:
        if not sip_uuid or not source_paths:
            raise error(400, "sip_uuid and source_paths[] both required.")
        await run_in_threadpool(copy_metadata_files, sip_uuid, source_paths)
        return JSONResponse(
            {"error": False, "message": "Metadata files added successfully."}, status_code=201
        )


def copy_metadata_files(sip_uuid: str, encoded_paths: list[str]) -> None:
    """Copy each source into the SIP's ``metadata/`` (see ``custos.sip_metadata``).

    An unknown SIP is a 404; a refused source a 400 naming ``source_paths[]`` and
    the entry; a SIP past *Process metadata directory* a 409.
    """
    try:
        sip_metadata.add_metadata_files(sip_uuid, encoded_paths)
    except NotFound as exc:
        raise error(404, exc.message) from exc
