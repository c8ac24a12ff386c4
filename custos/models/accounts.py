"""Users (each with one role) and API keys (stored hashed)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from custos.models.base import utcnow


class Role(StrEnum):
    """What a user may do; each user has exactly one (see docs/roles.md).

    - ``admin``: everything, including users, keys, locations and processing
      configurations;
    - ``archivist``: transfers, ingests, decisions, AIPs and reingest; reads
      processing configurations;
    - ``capture``: the Perma.cc and ArchiveBox dialects, own and organisation
      captures only;
    - ``auditor``: read-only: status, AIP lists, fixity results.
    """

    ADMIN = "admin"
    ARCHIVIST = "archivist"
    CAPTURE = "capture"
    AUDITOR = "auditor"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=150)
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    password_hash: str | None = None
    is_active: bool = True
    role: str = Field(
        default=Role.ARCHIVIST.value, max_length=16, description="One of Role's values."
    )
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def is_admin(self) -> bool:
        """Whether the user has the ``admin`` role (every right, every capture)."""
        return self.role == Role.ADMIN


class ApiKey(SQLModel, table=True):
    """An API key: only a SHA-256 of the secret is kept, with a lookup prefix."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    prefix: str = Field(index=True, max_length=16)
    key_hash: str = Field(max_length=64)
    label: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked: bool = False


class EndedSession(SQLModel, table=True):
    """A console session signed out before its cookie expired (``custos.sessions``).

    The cookie is signed and stateless; a copy of it is refused once its ``sid`` is
    here. Rows are kept until ``expires_at`` (when the cookie would have expired
    anyway) and pruned on later sign-outs.
    """

    __tablename__ = "ended_session"

    sid: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    ended_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
