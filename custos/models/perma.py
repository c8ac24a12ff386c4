"""Per-user capture quotas and API-token expiry, kept apart from the accounts tables.

Perma limits how many *personal* links a user may make (``links_remaining``);
ArchiveBox tokens expire. Neither belongs in the shared ``user``/``api_key`` tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from custos.models.base import utcnow


class CaptureQuota(SQLModel, table=True):
    """A user's personal-link allowance; no row means unlimited."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    link_limit: int | None = Field(default=None, description="None: unlimited.")
    period: str = Field(default="once", description="once, monthly, annually")
    bonus_links: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class ApiKeyExpiry(SQLModel, table=True):
    """When an API key handed out by ArchiveBox's get_api_token stops working."""

    api_key_id: int = Field(foreign_key="apikey.id", primary_key=True)
    expires: datetime
