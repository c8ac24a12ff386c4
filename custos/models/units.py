"""Units (transfers, SIPs, captures), their jobs and per-file tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String
from sqlmodel import JSON, AutoString, Column, Field, SQLModel

from custos.models.base import new_uuid, utcnow


class UnitType(StrEnum):
    TRANSFER = "transfer"
    SIP = "SIP"
    CAPTURE = "capture"
    HEALTHCHECK = "healthcheck"  # proves the submit -> run -> record path (api.native)


class TransferType(StrEnum):
    """A transfer's type: Archivematica's names (the wire format) plus Custos' own."""

    STANDARD = "standard"
    ZIPFILE = "zipfile"
    BAG = "unzipped bag"
    ZIPPED_BAG = "zipped bag"
    DSPACE = "dspace"  # a folder of DSpace item exports (zips with their mets.xml)
    DATAVERSE = "dataverse"  # a Dataverse dataset's files with its dataset.json
    AIP = "Archivematica AIP"  # a full reingest: the stored AIP as a transfer
    CAPTURE = "capture"  # a capture unit (the page's URL is its source)
    HEALTHCHECK = "healthcheck"


class UnitStatus(StrEnum):
    PROCESSING = "PROCESSING"
    USER_INPUT = "USER_INPUT"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    REJECTED = "REJECTED"


class JobStatus(StrEnum):
    UNKNOWN = "UNKNOWN"
    USER_INPUT = "USER_INPUT"
    COMPLETE = "COMPLETE"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"


class Unit(SQLModel, table=True):
    """A transfer, SIP or capture moving through its microservices.

    ``status`` is derived by the recorder from the unit's jobs (Archivematica's
    rules) and cached here so listings need no per-unit job scan;
    ``ix_unit_status_type_created`` answers ``completed`` listings (status, type,
    creation order) with one index range scan.
    """

    __table_args__ = (
        Index("ix_unit_status_type_created", "status", "unit_type", "created_at"),
        Index("ix_unit_accession", "accession"),
        Index("ix_unit_type_hidden_created", "unit_type", "hidden", "created_at"),
        Index("ix_unit_status_hidden_updated", "status", "hidden", "updated_at"),
        Index("ix_unit_sip_uuid", "sip_uuid"),  # the backlog, a SIP's transfers
    )

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    unit_type: UnitType = Field(index=True, sa_type=String(16))
    name: str
    transfer_type: TransferType = Field(default=TransferType.STANDARD, sa_type=AutoString)
    status: UnitStatus = Field(default=UnitStatus.PROCESSING, sa_type=String(16))
    current_path: str | None = None
    source_path: str | None = Field(default=None, description="Where the material came from.")
    processing_config: str = "default"
    accession: str | None = None
    access_system_id: str | None = None
    metadata_set_id: str | None = None
    sip_uuid: str | None = Field(
        default=None, description="Transfers: the SIP made from it, or BACKLOG."
    )
    transfer_uuid: str | None = Field(
        default=None, index=True, description="SIPs: the transfer it came from."
    )
    parent_uuid: str | None = Field(default=None, description="Reingest: the AIP reingested.")
    auto_approve: bool = True
    hidden: bool = Field(default=False, index=True)
    flow_run_id: str | None = None
    submitted_at: datetime | None = None
    error: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = Field(default=None, foreign_key="user.id")


class Job(SQLModel, table=True):
    """One microservice step (Archivematica link) run on one unit.

    ``ix_job_unit_uuid_seq`` serves every per-unit read (status: newest job first;
    ``v2beta/jobs``: oldest first) without a sort, and the foreign key.
    """

    __table_args__ = (Index("ix_job_unit_uuid_seq", "unit_uuid", "seq"),)

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    unit_uuid: str = Field(foreign_key="unit.uuid", max_length=36)
    unit_type: UnitType = Field(sa_type=String(16))
    microservice: str = Field(description="Microservice group, e.g. 'Scan for viruses'.")
    name: str = Field(index=True, description="Job name, e.g. 'Scan for viruses in directories'.")
    link_uuid: str | None = Field(default=None, index=True, max_length=36)
    status: JobStatus = Field(default=JobStatus.PROCESSING, sa_type=String(16))
    seq: int = Field(default=0, description="Order of creation within the unit.")
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: str | None = Field(default=None, description="Summary or error of the job.")


class Task(SQLModel, table=True):
    """One file's part in a job (or the whole job for directory-level steps)."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    job_uuid: str = Field(foreign_key="job.uuid", index=True, max_length=36)
    file_uuid: str | None = Field(default=None, max_length=36)
    file_name: str = ""
    exit_code: int | None = None
    arguments: str = ""
    stdout: str = ""
    stderr: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None


class UnitLock(SQLModel, table=True):
    """Claims used to start something exactly once (watched items, flow runs)."""

    key: str = Field(primary_key=True, max_length=255)
    owner: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    note: str | None = None
