"""Per-microservice logic for transfers and ingests: plain functions, no Prefect, no database."""
