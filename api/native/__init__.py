"""Custos' own endpoints under ``/custos``: health, healthcheck runs, unit status,
stored packages."""

from fastapi import APIRouter

from api.native import aips, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(aips.router)

__all__ = ["router"]
