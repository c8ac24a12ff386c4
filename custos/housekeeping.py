"""Rows that only grow unless someone removes them: removed on the reconcile schedule.

``purge_expired_idempotency`` deletes the ``Idempotency-Key`` records of
``v2beta/package`` (``IdempotencyRecord``) whose ``expires_at`` has passed; a retry
after that is a new request, as in Archivematica. ``flows/reconcile.py`` calls it on
every pass (``CUSTOS_RECONCILE_INTERVAL``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete
from sqlmodel import col

from custos.db import get_engine, session_scope
from custos.models import utcnow
from custos.models.am_api import IdempotencyRecord


def purge_expired_idempotency(engine: Engine | None = None, *, now: datetime | None = None) -> int:
    """Delete every idempotency record expired at ``now``; returns how many."""
    with session_scope(engine or get_engine()) as s:
        result = s.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= (now or utcnow()))
        )
        return int(getattr(result, "rowcount", 0) or 0)
