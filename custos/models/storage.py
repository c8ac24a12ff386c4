"""Storage locations and stored AIPs/DIPs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String
from sqlmodel import JSON, Column, Field, SQLModel

from custos.models.base import new_uuid, utcnow


class LocationPurpose(StrEnum):
    """Archivematica Storage Service purpose codes."""

    TRANSFER_SOURCE = "TS"
    CURRENTLY_PROCESSING = "CP"
    AIP_STORAGE = "AS"
    DIP_STORAGE = "DS"
    BACKLOG = "BL"


class Location(SQLModel, table=True):
    """A folder with a purpose. User paths are always resolved inside ``path``."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    purpose: LocationPurpose = Field(index=True, sa_type=String(4))
    path: str
    description: str = ""
    is_default: bool = False
    watched: bool = Field(
        default=False,
        description="Transfer sources: start a transfer "
        "for each item dropped into the watched subfolder.",
    )
    watch_options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class PackageStatus(StrEnum):
    STORING = "STORING"
    STORED = "STORED"
    FAILED = "FAILED"
    DELETED = "DELETED"


class Package(SQLModel, table=True):
    """A stored AIP or DIP (``package_type``) in a location.

    ``ix_package_type_status_stored`` serves Archival storage's list of stored AIPs
    and its bounded count from the index alone (newest stored first);
    ``ix_package_type_stored`` the list of every status; ``ix_package_type_status_size``
    the dashboard's count and total size of stored AIPs.
    """

    __table_args__ = (
        Index("ix_package_type_stored", "package_type", "stored_at"),
        Index("ix_package_type_status_stored", "package_type", "status", "stored_at", "uuid"),
        Index("ix_package_last_fixity_at", "last_fixity_at"),
        Index("ix_package_fixity_outcome", "last_fixity_outcome"),
        Index("ix_package_type_status_size", "package_type", "status", "size"),
    )

    uuid: str = Field(primary_key=True, max_length=36, description="The SIP uuid.")
    package_type: str = Field(default="AIP", index=True)
    name: str
    location_uuid: str = Field(foreign_key="location.uuid", max_length=36)
    path: str = Field(description="Relative to the location.")
    size: int | None = None
    checksum: str | None = None
    checksum_type: str = "sha256"
    compression: str = "none"
    status: PackageStatus = Field(default=PackageStatus.STORING, index=True, sa_type=String(16))
    stored_at: datetime | None = None
    last_fixity_at: datetime | None = None
    last_fixity_outcome: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
