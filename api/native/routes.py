"""The native routes.

- ``GET /custos/health`` (public): version, whether the database answers, and
  whether virus checks use official ClamAV signatures or test-only ones.
- ``POST /custos/healthcheck``: create a ``healthcheck`` unit and submit its
  flow through ``custos.dispatch`` (Prefect under ``custos serve``).
- ``GET /custos/units/{uuid}``: a unit's status and jobs, from the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.native.auth import CurrentUser, requires
from api.native.errors import NativeRoute
from api.roles import Access
from custos import __version__, dispatch
from custos.db import check_database, get_engine, session_scope
from custos.errors import ConfigError, NotFound
from custos.models import Job, TransferType, Unit, UnitType
from custos.settings import get_settings
from custos.virus_signatures import health_fields

router = APIRouter(prefix="/custos", tags=["custos"], route_class=NativeRoute)


class HealthcheckRequest(BaseModel):
    """Options of a healthcheck run."""

    hold_seconds: float = Field(
        default=0,
        ge=0,
        le=3600,
        description="Keep the run busy this long (first attempt only), to try crash recovery.",
    )


class JobOut(BaseModel):
    uuid: str
    microservice: str
    name: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    output: str | None


class UnitOut(BaseModel):
    uuid: str
    unit_type: str
    name: str
    status: str
    flow_run_id: str | None
    created_at: datetime
    updated_at: datetime
    error: str | None
    jobs: list[JobOut]


@router.get(
    "/health",
    dependencies=[requires(Access.PUBLIC)],
    summary="Liveness and database check (no key needed)",
)
def health() -> JSONResponse:
    """200 when the database answers, 503 with the reason otherwise."""
    signatures = health_fields(get_settings())  # "virus_signatures": "test-only" ...
    try:
        check_database(get_engine())
    except ConfigError as exc:
        return JSONResponse(
            {"status": "error", "version": __version__, "database": exc.message, **signatures},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "version": __version__, "database": "ok", **signatures})


def _start_healthcheck(user_id: int | None, hold_seconds: float) -> dict[str, Any]:
    with session_scope() as s:
        unit = Unit(
            unit_type=UnitType.HEALTHCHECK,
            name="healthcheck",
            transfer_type=TransferType.HEALTHCHECK,
            hidden=True,
            created_by=user_id,
            variables={"hold_seconds": hold_seconds} if hold_seconds else {},
        )
        s.add(unit)
        s.flush()
        unit_uuid = unit.uuid
    run_id = dispatch.submit("healthcheck", unit_uuid)
    return {"uuid": unit_uuid, "flow_run_id": run_id, "status": "PROCESSING"}


@router.post(
    "/healthcheck",
    dependencies=[requires(Access.ADMIN)],
    status_code=202,
    summary="Run the healthcheck flow",
)
async def start_healthcheck(
    user: CurrentUser, request: HealthcheckRequest | None = Body(default=None)
) -> dict[str, Any]:
    """Create a healthcheck unit and submit its flow; poll ``/custos/units/{uuid}``."""
    hold = request.hold_seconds if request else 0.0
    return await run_in_threadpool(_start_healthcheck, user.id, hold)


def _unit(unit_uuid: str) -> UnitOut:
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
        jobs = s.exec(
            select(Job).where(col(Job.unit_uuid) == unit_uuid).order_by(col(Job.seq))
        ).all()
        return UnitOut(
            uuid=unit.uuid,
            unit_type=str(unit.unit_type),
            name=unit.name,
            status=str(unit.status),
            flow_run_id=unit.flow_run_id,
            created_at=unit.created_at,
            updated_at=unit.updated_at,
            error=unit.error,
            jobs=[
                JobOut(
                    uuid=j.uuid,
                    microservice=j.microservice,
                    name=j.name,
                    status=str(j.status),
                    created_at=j.created_at,
                    ended_at=j.ended_at,
                    output=j.output,
                )
                for j in jobs
            ],
        )


@router.get(
    "/units/{unit_uuid}", dependencies=[requires(Access.READ)], summary="A unit's status and jobs"
)
async def get_unit(unit_uuid: str, user: CurrentUser) -> UnitOut:  # noqa: ARG001
    """Status as recorded in the database (the source of truth), with every job."""
    return await run_in_threadpool(_unit, unit_uuid)
