"""ArchiveBox's REST API v1 under ``/api/v1/`` over the shared capture model (capture.md 3)."""

from __future__ import annotations

from fastapi import APIRouter

from . import core, other

router = APIRouter(prefix="/api/v1", tags=["archivebox"])
router.include_router(other.auth_router)
router.include_router(core.router)
router.include_router(other.crawls_router)
router.include_router(other.cli_router)
router.include_router(other.workers_router)
router.include_router(other.machine_router)

__all__ = ["router"]
