"""``POST /api/v2beta/package``: create (and by default auto-approve) a transfer.

The raw body is parsed as JSON whatever the Content-Type (amclient sends none).
The answer is 202 ``{"id": <transfer uuid>}`` before any job exists.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.archivematica import idempotency, starting
from api.archivematica.auth import authenticated_user, requires
from api.archivematica.errors import ErrorBody, error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.archivematica.units import TRANSFER_TYPE_DIRS
from api.roles import Access
from custos import processing
from custos.errors import InvalidInput, NotFound
from custos.storage import decode_location_path

CANNOT_DECODE = 'Parameter "path" cannot be decoded.'
CANNOT_CREATE = "Package cannot be created"


class PackageRequest(BaseModel):
    """Body of ``v2beta/package``."""

    name: str = Field(description="Transfer name")
    path: str = Field(
        description="base64 of `<location uuid>:<path>` or of a bare path "
        "in the default transfer source"
    )
    type: str | None = Field(
        None,
        description="standard, zipfile, unzipped bag, zipped bag, dspace, maildir, TRIM, dataverse",
    )
    accession: str | None = None
    access_system_id: str | None = None
    metadata_set_id: str | None = None
    processing_config: str | None = Field(
        None, description="Name of a processing configuration (unknown names: default)"
    )
    auto_approve: bool = True


class PackageCreated(BaseModel):
    id: str


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request as a dict, or Archivematica's 400s."""
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise error(400, CANNOT_DECODE) from exc
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        raise error(400, CANNOT_DECODE)
    try:
        decode_location_path(body["path"])
    except InvalidInput as exc:
        raise error(400, CANNOT_DECODE) from exc
    name = body.get("name")
    transfer_type = body.get("type")
    if transfer_type in (None, "disk image"):
        transfer_type = "standard"
    auto_approve = body.get("auto_approve", True)
    if (
        not isinstance(name, str)
        or not name.strip()
        or transfer_type not in TRANSFER_TYPE_DIRS
        or not isinstance(auto_approve, bool)
    ):
        raise error(400, CANNOT_CREATE)
    for opt in ("accession", "access_system_id", "metadata_set_id", "processing_config"):
        if body.get(opt) is not None and not isinstance(body[opt], str):
            raise error(400, CANNOT_CREATE)
    body["type"] = transfer_type
    body["auto_approve"] = auto_approve
    return body


def create(body: dict[str, Any], user_id: int) -> str:
    """Create the transfer described by a parsed body; returns its uuid."""
    config = body.get("processing_config") or "default"
    if config not in processing.list_names():
        config = "default"  # as Archivematica: an unknown name silently becomes default
    try:
        started = starting.start(
            name=body["name"].strip(),
            paths=[body["path"]],
            transfer_type=body["type"],
            accession=body.get("accession"),
            access_system_id=body.get("access_system_id"),
            metadata_set_id=body.get("metadata_set_id"),
            processing_config=config,
            auto_approve=body["auto_approve"],
            user_id=user_id,
            path_field="path",
        )
    except (NotFound, InvalidInput) as exc:
        raise error(400, f"{CANNOT_CREATE}: {exc.message}") from exc
    return started.uuid


def register(r: AMRoutes) -> None:
    """Add ``v2beta/package``."""
    tags = ["Archivematica: v2beta"]
    schema = PackageRequest.model_json_schema()

    @r.route(
        "/api/v2beta/package",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=tags,
        status_code=202,
        responses={
            202: {"model": PackageCreated},
            **ERRORS,
            409: {"model": ErrorBody, "description": "Same Idempotency-Key still being processed"},
            422: {
                "model": ErrorBody,
                "description": "Idempotency-Key reused with other parameters",
            },
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                }
            ],
        },
        summary="Create a transfer in one call",
    )
    async def package(request: Request, user_id: int = Depends(authenticated_user)) -> JSONResponse:
        body = parse_body(await request.body())
        key = request.headers.get("Idempotency-Key")
        if not key:
            uuid = await run_in_threadpool(create, body, user_id)
            return JSONResponse({"id": uuid}, status_code=202)
        record_id, replay = await run_in_threadpool(
            idempotency.claim, user_id, key, idempotency.request_digest(body)
        )
        if replay is not None:
            return JSONResponse({"id": replay}, status_code=202)
        assert record_id is not None
        try:
            uuid = await run_in_threadpool(create, body, user_id)
        except BaseException:
            await run_in_threadpool(idempotency.release, record_id)
            raise
        await run_in_threadpool(idempotency.complete, record_id, uuid)
        return JSONResponse({"id": uuid}, status_code=202)

    @r.route(
        "/api/v2beta/package",
        ["GET"],
        include_in_schema=False,
        dependencies=[requires(Access.PROCESS)],
    )
    def package_get() -> Response:
        return Response(status_code=501)
