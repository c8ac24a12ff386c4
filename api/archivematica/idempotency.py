"""``Idempotency-Key`` for ``v2beta/package`` (Archivematica 1.19 semantics).

A key is scoped to the authenticated user. The first request claims it (a row
without a unit); an identical retry gets the same transfer id; the same key with
another body is 422; a retry while the first request is still creating the unit
is 409. Only SHA-256 digests of key and request are stored; records expire after
``TTL`` and expired ones are deleted on the reconcile schedule
(``custos.housekeeping.purge_expired_idempotency``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from api.archivematica.errors import error
from custos import housekeeping
from custos.db import session_scope
from custos.models import utcnow
from custos.models.am_api import IdempotencyRecord

TTL = timedelta(days=90)


def digest(value: str | bytes) -> str:
    return hashlib.sha256(value if isinstance(value, bytes) else value.encode()).hexdigest()


def request_digest(body: dict[str, Any]) -> str:
    """Digest of a request body, independent of key order and whitespace."""
    return digest(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str))


def claim(user_id: int, key: str, req_digest: str) -> tuple[int | None, str | None]:
    """Claim ``key``: (record id, None) when new, (None, unit uuid) for a replay."""
    key_digest = digest(key)
    for _attempt in range(2):
        try:
            with session_scope() as s:
                record = IdempotencyRecord(
                    user_id=user_id,
                    key_digest=key_digest,
                    request_digest=req_digest,
                    expires_at=utcnow() + TTL,
                )
                s.add(record)
                s.flush()
                return record.id, None
        except IntegrityError:
            pass
        with session_scope() as s:
            existing = s.exec(
                select(IdempotencyRecord).where(
                    col(IdempotencyRecord.user_id) == user_id,
                    col(IdempotencyRecord.key_digest) == key_digest,
                )
            ).first()
            if existing is None:
                continue  # released meanwhile: try again
            expires = existing.expires_at
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=utcnow().tzinfo)
            if expires <= utcnow():
                s.delete(existing)
                continue
            if existing.request_digest != req_digest:
                raise error(
                    422, "Idempotency-Key was already used with different request parameters."
                )
            if existing.unit_uuid is None:
                raise error(409, "A request with this Idempotency-Key is still being processed.")
            return None, existing.unit_uuid
    raise error(409, "A request with this Idempotency-Key is still being processed.")


def complete(record_id: int, unit_uuid: str) -> None:
    """Attach the created unit to the claimed key."""
    with session_scope() as s:
        record = s.get(IdempotencyRecord, record_id)
        if record is not None:
            record.unit_uuid = unit_uuid


def release(record_id: int) -> None:
    """Forget a claim whose request failed, so a retry can succeed."""
    with session_scope() as s:
        s.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == record_id))


def purge_expired() -> int:
    """Delete expired records; returns how many (the reconcile flow does this on its
    schedule: ``custos.housekeeping``)."""
    return housekeeping.purge_expired_idempotency()
