"""Where a SIP is and which of its files count: the shared view of every ingest step.

The transfer flow leaves the SIP as a Unit (type SIP) whose ``current_path`` is its
directory in the processing location, and File rows (``sip_uuid`` = the SIP) with
paths relative to that directory (``objects/photo.jpg``). Every ingest step starts
from :func:`load_sip` and asks for files through :func:`sip_files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, or_
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import File, FileUse, LocationPurpose, Unit, UnitType
from custos.storage import default_location

#: File uses that are part of the AIP (and so of its METS).
AIP_USES = (
    FileUse.ORIGINAL,
    FileUse.PRESERVATION,
    FileUse.METADATA,
    FileUse.SUBMISSION_DOCUMENTATION,
    FileUse.LICENSE,
    FileUse.OCR,
    FileUse.SERVICE,
    FileUse.DERIVATIVE,
)
#: Folders under objects/ that hold no original content of the SIP.
NON_CONTENT_DIRS = (
    "objects/metadata/",
    "objects/submissionDocumentation/",
    "objects/manualNormalization/",
    "objects/service/",
)


@dataclass(frozen=True)
class Sip:
    """A SIP being ingested: identity, name, directory and processing config name."""

    uuid: str
    name: str
    path: Path
    processing_config: str
    transfer_uuid: str | None
    parent_uuid: str | None

    @property
    def aip_name(self) -> str:
        """``<name>-<uuid>``: the AIP's directory and bag name."""
        return f"{self.name}-{self.uuid}"

    @property
    def mets_path(self) -> Path:
        return self.path / f"METS.{self.uuid}.xml"


def load_sip(unit_uuid: str, engine: Engine | None = None) -> Sip:
    """The SIP unit with its directory resolved (relative paths are in the processing
    location)."""
    with session_scope(engine or get_engine()) as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
        if unit.unit_type != UnitType.SIP:
            raise InvalidInput(f"unit {unit_uuid} is a {unit.unit_type}, not a SIP")
        if not unit.current_path:
            raise InvalidInput(f"SIP {unit_uuid} has no directory")
        root = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING, engine).path)
        path = Path(unit.current_path)
        if not path.is_absolute():
            path = root / path
        # Ingest moves, renames and finally deletes this directory: never act on one
        # outside the processing location (an empty or stray path would be the cwd).
        if not path.resolve().is_relative_to(root.resolve()) or path.resolve() == root.resolve():
            raise InvalidInput(
                f"SIP {unit_uuid} directory {path} is not inside the processing location"
            )
        return Sip(
            unit.uuid, unit.name, path, unit.processing_config, unit.transfer_uuid, unit.parent_uuid
        )


def sip_files(
    sip_uuid: str, *, uses: tuple[str, ...] | None = None, engine: Engine | None = None
) -> list[File]:
    """The SIP's current (not removed) File rows, optionally of some uses, by path."""
    with session_scope(engine or get_engine()) as s:
        query = select(File).where(
            or_(col(File.sip_uuid) == sip_uuid, col(File.unit_uuid) == sip_uuid),
            col(File.removed).is_(False),
        )
        if uses is not None:
            query = query.where(col(File.use).in_(uses))
        return list(s.exec(query.order_by(col(File.current_path))).all())


def is_content(f: File) -> bool:
    """An original object of the SIP (not metadata or submission documentation)."""
    return (
        f.use == FileUse.ORIGINAL
        and f.current_path.startswith("objects/")
        and not f.current_path.startswith(NON_CONTENT_DIRS)
    )
