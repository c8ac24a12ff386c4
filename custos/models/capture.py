"""Web captures: one model seen as a Perma "archive" and an ArchiveBox "snapshot".

A capture is also a ``Unit`` (type ``capture``) with the same uuid, so its jobs and
status work like those of transfers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import AutoString, Field, SQLModel

from custos.models.base import new_uuid, utcnow


class CaptureStatus(StrEnum):
    """A capture's status (ArchiveBox's snapshot statuses)."""

    QUEUED = "queued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SEALED = "sealed"


class CaptureJobStatus(StrEnum):
    """A capture job's status (Perma's)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DELETED = "deleted"
    FAILED = "failed"
    INVALID = "invalid"


class ResultStatus(StrEnum):
    """An ArchiveResult's status (ArchiveBox's)."""

    QUEUED = "queued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class CrawlStatus(StrEnum):
    """A crawl's status (ArchiveBox's)."""

    QUEUED = "queued"
    STARTED = "started"
    SEALED = "sealed"


class Organization(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    registrar: str = ""
    default_to_private: bool = False
    shared_folder_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class OrganizationMember(SQLModel, table=True):
    organization_id: int = Field(foreign_key="organization.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True)


class Folder(SQLModel, table=True):
    """A folder of Perma's tree; a user's root folder has no parent."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    parent_id: int | None = Field(default=None, foreign_key="folder.id", index=True)
    owned_by: int | None = Field(default=None, foreign_key="user.id", index=True)
    organization_id: int | None = Field(default=None, foreign_key="organization.id")
    is_root_folder: bool = False
    read_only: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Crawl(SQLModel, table=True):
    """The URLs of one submission (ArchiveBox's crawl)."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    urls: str = ""
    max_depth: int = 0
    tags_str: str = ""
    label: str = ""
    status: CrawlStatus = Field(default=CrawlStatus.QUEUED, sa_type=AutoString)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class Batch(SQLModel, table=True):
    """A Perma link batch: several URLs submitted together into one folder."""

    id: int | None = Field(default=None, primary_key=True)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    target_folder_id: int | None = Field(default=None, foreign_key="folder.id")
    started_on: datetime = Field(default_factory=utcnow)


class Capture(SQLModel, table=True):
    """A captured web page."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    guid: str = Field(index=True, unique=True, max_length=16, description="Perma GUID XXXX-XXXX.")
    timestamp: str = Field(
        index=True,
        unique=True,
        max_length=32,
        description="ArchiveBox snapshot timestamp (epoch seconds as text).",
    )
    url: str = Field(index=True)
    final_url: str | None = None
    title: str | None = None
    description: str | None = None
    notes: str = ""
    status: CaptureStatus = Field(default=CaptureStatus.QUEUED, index=True, sa_type=AutoString)
    retry_at: datetime | None = None
    is_private: bool = False
    private_reason: str | None = None
    is_unlisted: bool = False
    user_deleted: bool = False
    user_deleted_at: datetime | None = None
    folder_id: int | None = Field(default=None, foreign_key="folder.id", index=True)
    organization_id: int | None = Field(default=None, foreign_key="organization.id")
    created_by: int | None = Field(default=None, foreign_key="user.id", index=True)
    crawl_uuid: str | None = Field(default=None, foreign_key="crawl.uuid")
    batch_id: int | None = Field(default=None, foreign_key="batch.id")
    directory: str | None = Field(default=None, description="Output folder of the capture.")
    warc_path: str | None = None
    warc_size: int | None = None
    wacz_path: str | None = None
    wacz_size: int | None = None
    default_to_screenshot_view: bool = False
    captured_by_software: str | None = None
    captured_by_browser: str | None = None
    capture_start: datetime | None = None
    capture_end: datetime | None = None
    aip_uuid: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    modified_at: datetime = Field(default_factory=utcnow)
    bookmarked_at: datetime = Field(default_factory=utcnow)
    downloaded_at: datetime | None = None


class CaptureJob(SQLModel, table=True):
    """Progress of one capture as Perma reports it."""

    id: int | None = Field(default=None, primary_key=True)
    capture_uuid: str | None = Field(default=None, foreign_key="capture.uuid", index=True)
    status: CaptureJobStatus = Field(
        default=CaptureJobStatus.PENDING, index=True, sa_type=AutoString
    )
    message: str | None = None
    submitted_url: str = ""
    attempt: int = 0
    step_count: float = 0.0
    step_description: str | None = None
    human: bool = False
    order: float = 0.0
    batch_id: int | None = Field(default=None, foreign_key="batch.id")
    created_by: int | None = Field(default=None, foreign_key="user.id")
    archive_formats: str = "warc"
    capture_start_time: datetime | None = None
    capture_end_time: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ArchiveResult(SQLModel, table=True):
    """One output of a capture (warc, screenshot, dom, pdf, favicon, title, ...)."""

    uuid: str = Field(default_factory=new_uuid, primary_key=True, max_length=36)
    capture_uuid: str = Field(foreign_key="capture.uuid", index=True, max_length=36)
    extractor: str = Field(index=True)
    role: str | None = Field(
        default=None,
        description="Perma capture role: primary, "
        "screenshot, favicon, provenance_summary, pdf_snapshot, ...",
    )
    status: ResultStatus = Field(default=ResultStatus.QUEUED, sa_type=AutoString)
    url: str | None = None
    record_type: str | None = None
    content_type: str | None = None
    output: str | None = None
    output_size: int | None = None
    cmd: str = ""
    cmd_version: str | None = None
    start_ts: datetime | None = None
    end_ts: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    slug: str = Field(default="", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class CaptureTag(SQLModel, table=True):
    capture_uuid: str = Field(foreign_key="capture.uuid", primary_key=True, max_length=36)
    tag_id: int = Field(foreign_key="tag.id", primary_key=True)
