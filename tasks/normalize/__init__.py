"""Normalization by format policy: rules (data), per-tool command runner, the ingest step."""
