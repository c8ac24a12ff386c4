"""Custos' own endpoints under ``/custos``: health, healthcheck runs, unit status,
stored packages; and ``/metrics`` (Prometheus)."""

from fastapi import APIRouter

from api.native import aips, metrics, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(aips.router)
router.include_router(metrics.router)

__all__ = ["router"]
