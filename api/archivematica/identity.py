"""The pipeline UUID sent as ``X-Archivematica-ID``, created once per database."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from custos.db import session_scope
from custos.models.am_api import PipelineIdentity

_cached: str | None = None


def load_pipeline_uuid() -> str:
    """Read (or create on first use) the installation's pipeline UUID."""
    with session_scope() as s:
        row = s.get(PipelineIdentity, 1)
        if row is not None:
            return row.uuid
    try:
        with session_scope() as s:
            row = PipelineIdentity()
            s.add(row)
            s.flush()
            return row.uuid
    except IntegrityError:  # another replica created it first: read theirs
        with session_scope() as s:
            existing = s.get(PipelineIdentity, 1)
            assert existing is not None
            return existing.uuid


async def pipeline_uuid() -> str:
    """The cached pipeline UUID (one database read per process)."""
    global _cached
    if _cached is None:
        _cached = await run_in_threadpool(load_pipeline_uuid)
    return _cached


def cached_pipeline_uuid() -> str | None:
    """The pipeline UUID if this process has read it already, else None."""
    return _cached


def reset_cache() -> None:
    """Forget the cached UUID (tests that switch databases)."""
    global _cached
    _cached = None
