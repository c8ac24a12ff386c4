"""Custos' own endpoints under ``/custos``: health, healthcheck runs, unit status."""

from api.native.routes import router

__all__ = ["router"]
