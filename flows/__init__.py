"""Prefect flows of Custos: straight-line orchestration of microservice tasks."""
