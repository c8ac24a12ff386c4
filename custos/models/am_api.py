"""Tables behind Archivematica's API that the core model does not need.

- ``IdempotencyRecord``: ``Idempotency-Key`` of ``v2beta/package`` (Archivematica
  1.19), scoped to the user; only SHA-256 digests of key and request are kept.
- ``LevelOfDescription`` and ``SIPArrange``: AtoM levels of description and the
  level chosen for an arranged path (``filesystem/metadata/``).
- ``PipelineIdentity``: the stable ``X-Archivematica-ID`` of this installation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from custos.models.base import new_uuid, utcnow


class IdempotencyRecord(SQLModel, table=True):
    """One ``Idempotency-Key`` seen from one user; ``unit_uuid`` is set once created."""

    __table_args__ = (UniqueConstraint("user_id", "key_digest"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    key_digest: str = Field(max_length=64)
    request_digest: str = Field(max_length=64)
    unit_uuid: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class LevelOfDescription(SQLModel, table=True):
    """An AtoM level of description (Fonds, Series, File ...), in display order."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    name: str = Field(max_length=150)
    sortorder: int = Field(default=0, index=True)


class SIPArrange(SQLModel, table=True):
    """An arranged path of a SIP-to-be and the level of description given to it."""

    id: int | None = Field(default=None, primary_key=True)
    arrange_path: str = Field(unique=True, max_length=4096)
    sip_uuid: str | None = Field(default=None, max_length=36)
    level_of_description: str | None = Field(
        default=None, foreign_key="levelofdescription.uuid", max_length=36
    )
    created_at: datetime = Field(default_factory=utcnow)


class PipelineIdentity(SQLModel, table=True):
    """The installation's pipeline UUID (Archivematica's dashboard UUID)."""

    id: int = Field(default=1, primary_key=True)
    uuid: str = Field(default_factory=new_uuid, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
