"""Normalization by format policy (``custos.format_policy``): the per-tool command runner
and the ingest step."""
