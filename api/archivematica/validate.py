"""``POST /api/v2beta/validate/<validator>``: validate a CSV document."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.archivematica.auth import requires
from api.archivematica.errors import ErrorBody, error
from api.archivematica.routing import AMRoutes
from api.archivematica.transfer import ERRORS
from api.archivematica.validators import VALIDATORS, ValidationError
from api.roles import Access

log = logging.getLogger(__name__)
CSV_TYPE = "text/csv; charset=utf-8"


class ValidBody(BaseModel):
    valid: bool
    reason: str | None = None


def register(r: AMRoutes) -> None:
    """Add the validate endpoint."""

    @r.route(
        "/api/v2beta/validate/{validator}",
        ["POST"],
        dependencies=[requires(Access.PROCESS)],
        tags=["Archivematica: v2beta"],
        responses={
            200: {"model": ValidBody},
            400: {"model": ValidBody | ErrorBody},
            404: {"model": ErrorBody},
            403: ERRORS[403],
        },
        openapi_extra={
            "requestBody": {"required": True, "content": {CSV_TYPE: {"schema": {"type": "string"}}}}
        },
        summary="Validate an Avalon manifest or a PREMIS rights CSV",
    )
    async def validate(request: Request, validator: str) -> JSONResponse:
        check = VALIDATORS.get(validator)
        if check is None:
            raise error(404, "Unknown validator. Accepted values: " + ",".join(VALIDATORS))
        ctype = request.headers.get("content-type", "")
        if ctype.replace(" ", "").lower() != CSV_TYPE.replace(" ", ""):
            raise error(400, f'Content type should be "{CSV_TYPE}"')
        try:
            check(await request.body())
        except ValidationError as exc:
            return JSONResponse({"valid": False, "reason": str(exc)}, status_code=400)
        return JSONResponse({"valid": True})
