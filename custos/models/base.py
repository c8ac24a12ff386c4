"""Shared column helpers: UUID strings and timezone-aware UTC timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_uuid() -> str:
    """A fresh random UUID as the 36-character string every table uses."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware (SQLModel stores it as UTC on every backend)."""
    return datetime.now(UTC)
