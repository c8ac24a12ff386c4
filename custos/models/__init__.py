"""SQLModel tables. Importing this package registers every table on the metadata."""

from custos.models import am_api  # noqa: F401  (Archivematica API tables)
from custos.models.accounts import ApiKey, EndedSession, User
from custos.models.base import new_uuid, utcnow
from custos.models.capture import (
    ArchiveResult,
    Batch,
    Capture,
    CaptureJob,
    CaptureJobStatus,
    CaptureStatus,
    CaptureTag,
    Crawl,
    CrawlStatus,
    Folder,
    Organization,
    OrganizationMember,
    ResultStatus,
    Tag,
)
from custos.models.decisions import Decision
from custos.models.files import Agent, Event, EventAgent, File, FileUse
from custos.models.perma import ApiKeyExpiry, CaptureQuota  # noqa: F401
from custos.models.storage import Location, LocationPurpose, Package, PackageStatus
from custos.models.units import (
    Job,
    JobStatus,
    Task,
    TransferType,
    Unit,
    UnitLock,
    UnitStatus,
    UnitType,
)

__all__ = [
    "Agent",
    "ApiKey",
    "ArchiveResult",
    "Batch",
    "Capture",
    "CaptureJob",
    "CaptureJobStatus",
    "CaptureStatus",
    "CaptureTag",
    "Crawl",
    "CrawlStatus",
    "Decision",
    "EndedSession",
    "Event",
    "EventAgent",
    "File",
    "FileUse",
    "Folder",
    "Job",
    "JobStatus",
    "Location",
    "LocationPurpose",
    "Organization",
    "OrganizationMember",
    "Package",
    "PackageStatus",
    "ResultStatus",
    "Tag",
    "Task",
    "TransferType",
    "Unit",
    "UnitLock",
    "UnitStatus",
    "UnitType",
    "User",
    "new_uuid",
    "utcnow",
]
