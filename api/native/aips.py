"""``GET /custos/aips``: stored packages and their last fixity result (read access).

What an auditor checks: every AIP (and DIP) the store holds, its size and
checksum, and when the fixity audit last verified it and with what outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from api.native.auth import requires
from api.native.errors import NativeRoute
from api.roles import Access
from custos.db import session_scope
from custos.models import Package

router: APIRouter = APIRouter(prefix="/custos", tags=["custos"], route_class=NativeRoute)


class PackageOut(BaseModel):
    uuid: str
    package_type: str
    name: str
    status: str
    size: int | None
    checksum: str | None
    checksum_type: str
    compression: str
    stored_at: datetime | None
    last_fixity_at: datetime | None
    last_fixity_outcome: str | None


def _packages(package_type: str | None) -> list[PackageOut]:
    with session_scope() as s:
        query = select(Package).order_by(col(Package.created_at), col(Package.uuid))
        if package_type:
            query = query.where(col(Package.package_type) == package_type)
        return [
            PackageOut(
                uuid=p.uuid,
                package_type=p.package_type,
                name=p.name,
                status=str(p.status),
                size=p.size,
                checksum=p.checksum,
                checksum_type=p.checksum_type,
                compression=p.compression,
                stored_at=p.stored_at,
                last_fixity_at=p.last_fixity_at,
                last_fixity_outcome=p.last_fixity_outcome,
            )
            for p in s.exec(query).all()
        ]


@router.get(
    "/aips",
    dependencies=[requires(Access.READ)],
    summary="Stored AIPs and DIPs with their last fixity check",
)
async def list_packages(
    package_type: Literal["AIP", "DIP"] | None = Query(None, alias="type"),
) -> list[PackageOut]:
    """Every stored package, oldest first (``?type=AIP`` or ``DIP`` to narrow)."""
    return await run_in_threadpool(_packages, package_type)
