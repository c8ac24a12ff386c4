"""Files of a unit and their PREMIS events and agents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from custos.models.base import new_uuid, utcnow


class FileUse:
    ORIGINAL = "original"
    PRESERVATION = "preservation"
    ACCESS = "access"
    THUMBNAIL = "thumbnail"
    METADATA = "metadata"
    SUBMISSION_DOCUMENTATION = "submissionDocumentation"
    LICENSE = "license"
    OCR = "text/ocr"
    SERVICE = "service"
    #: Made from an original before the transfer (a Dataverse tabular bundle's copies).
    DERIVATIVE = "derivative"


class File(SQLModel, table=True):
    """A file in custody: where it came from, where it is, what it is.

    ``ix_file_puid_sip`` and ``ix_file_format_sip`` find the AIPs holding a format
    (Archival storage search) without reading the table.
    """

    __table_args__ = (
        Index("ix_file_puid_sip", "puid", "sip_uuid"),
        Index("ix_file_format_sip", "format_name", "sip_uuid"),
    )

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    unit_uuid: str = Field(foreign_key="unit.uuid", index=True, max_length=36)
    sip_uuid: str | None = Field(default=None, index=True, max_length=36)
    original_path: str = Field(description="Path relative to the unit at arrival.")
    current_path: str = Field(description="Path relative to the unit directory now.")
    size: int | None = None
    checksum: str | None = None
    checksum_type: str | None = None
    puid: str | None = None
    format_name: str | None = None
    format_version: str | None = None
    mime_type: str | None = None
    use: str = Field(default=FileUse.ORIGINAL, index=True)
    derived_from: str | None = Field(default=None, max_length=36)
    characterization: str | None = Field(
        default=None, description="Tool XML outputs for objectCharacteristicsExtension."
    )
    modified_at: datetime | None = None
    removed: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Agent(SQLModel, table=True):
    """A PREMIS agent: software, organization or user (one row per identifier)."""

    __table_args__ = (
        Index("uq_agent_identifier", "identifier_type", "identifier_value", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    identifier_type: str
    identifier_value: str
    name: str
    agent_type: str


class Event(SQLModel, table=True):
    """A PREMIS event about a file (or the whole unit when file_uuid is null)."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    unit_uuid: str = Field(foreign_key="unit.uuid", index=True, max_length=36)
    file_uuid: str | None = Field(default=None, index=True, max_length=36)
    event_type: str = Field(index=True)
    event_datetime: datetime = Field(default_factory=utcnow)
    detail: str = ""
    outcome: str = ""
    outcome_note: str = ""


class EventAgent(SQLModel, table=True):
    """Which agents took part in an event."""

    event_uuid: str = Field(foreign_key="event.uuid", primary_key=True, max_length=36)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True)
