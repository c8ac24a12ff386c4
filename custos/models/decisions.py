"""Decision points reached by units, with their choices and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Column, Field, SQLModel

from custos.models.base import new_uuid, utcnow


class Decision(SQLModel, table=True):
    """A question a flow could not answer from the processing configuration.

    ``choices`` is a list of ``{"id": ..., "label": ...}``; ``job_uuid`` is the
    USER_INPUT job that shows the wait in Archivematica's API.
    """

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    unit_uuid: str = Field(foreign_key="unit.uuid", index=True, max_length=36)
    job_uuid: str = Field(foreign_key="job.uuid", index=True, max_length=36)
    name: str
    link_uuid: str | None = None
    choices: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    choice: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
