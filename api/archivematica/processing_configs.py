"""``/api/processing-configuration[/<name>]``: list, fetch, delete and upload.

GET answers ``text/xml`` only when the ``Accept`` header is ``*/*`` or mentions
xml (else 415, as Archivematica). PUT (a Custos extension) stores an uploaded
``processingMCP.xml`` after validating it with ``custos.processing``.
"""

from __future__ import annotations

from fastapi import Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.archivematica.auth import requires
from api.archivematica.errors import AMError, ErrorBody, error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.roles import Access
from custos import processing
from custos.errors import InvalidInput, NotFound

NAME_PATTERN = r"^\w{1,16}$"
MAX_UPLOAD = 1024 * 1024


class ConfigList(BaseModel):
    processing_configurations: list[str]


class SuccessBody(BaseModel):
    success: bool
    error: str | None = None


def no_such(name: str) -> AMError:
    return AMError(404, {"success": False, "error": f'No such processing config "{name}".'})


def accepts_xml(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return accept.strip() == "*/*" or "xml" in accept


def register(r: AMRoutes) -> None:
    """Add the processing-configuration endpoints."""
    tags = ["Archivematica: processing configuration"]

    @r.route(
        "/api/processing-configuration",
        ["GET"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={200: {"model": ConfigList}, **ERRORS},
        summary="Names of the processing configurations",
    )
    def processing_configurations() -> JSONResponse:
        return JSONResponse({"processing_configurations": processing.list_names()})

    @r.route(
        "/api/processing-configuration/{name}",
        ["GET"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        responses={
            200: {"content": {"text/xml": {}}, "description": "processingMCP.xml"},
            404: {"model": SuccessBody},
            415: {"description": "Accept is not */* and does not mention xml"},
            **ERRORS,
        },
        summary="One processing configuration as processingMCP.xml",
    )
    def get_processing_configuration(
        request: Request, name: str = Path(pattern=NAME_PATTERN)
    ) -> Response:
        if not accepts_xml(request):
            return Response(status_code=415)
        try:
            data = processing.named_xml(name)
        except NotFound as exc:
            raise no_such(name) from exc
        return Response(data, media_type="text/xml")

    @r.route(
        "/api/processing-configuration/{name}",
        ["DELETE"],
        dependencies=[requires(Access.ADMIN)],
        tags=tags,
        responses={200: {"model": SuccessBody}, 404: {"model": SuccessBody}, **ERRORS},
        summary="Delete a processing configuration (built-ins are reset)",
    )
    def delete_processing_configuration(name: str = Path(pattern=NAME_PATTERN)) -> JSONResponse:
        try:
            processing.delete(name)
        except NotFound as exc:
            if name not in processing.BUILTIN:
                raise no_such(name) from exc
        return JSONResponse({"success": True})

    @r.route(
        "/api/processing-configuration/{name}",
        ["PUT"],
        dependencies=[requires(Access.ADMIN)],
        tags=tags,
        responses={200: {"model": SuccessBody}, 400: {"model": ErrorBody}, **ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/xml": {"schema": {"type": "string"}},
                    "application/xml": {"schema": {"type": "string"}},
                },
            }
        },
        summary="Upload a processingMCP.xml under a name (Custos extension)",
    )
    async def put_processing_configuration(
        request: Request, name: str = Path(pattern=NAME_PATTERN)
    ) -> JSONResponse:
        data = await request.body()
        if not data.strip():
            raise error(400, "The request body must be a processingMCP.xml document.")
        if len(data) > MAX_UPLOAD:
            raise error(400, "The processing configuration is too large.")
        try:
            await run_in_threadpool(processing.save, name, data)
        except InvalidInput as exc:
            raise error(400, exc.message) from exc
        return JSONResponse({"success": True})
