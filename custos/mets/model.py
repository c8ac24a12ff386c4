"""Typed inputs of the METS builder: what an AIP's METS says, without a database.

The ingest flow maps its rows (files, events, agents, rights, Dublin Core) onto these
frozen dataclasses and hands one :class:`AIP` to :func:`custos.mets.mets.build_mets`.
Keeping the builder's input plain data means the METS can be golden-tested byte for
byte and built in a worker that has no database connection.

Paths are POSIX, relative to the bag's ``data/`` directory (``objects/photo.tif``,
``objects/metadata/transfers/t-<uuid>/metadata.csv``), exactly as they appear in
``FLocat/@xlink:href``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID


class FileUse(StrEnum):
    """``fileGrp/@USE`` values, declared in Archivematica's fixed fileSec order."""

    ORIGINAL = "original"
    SUBMISSION_DOCUMENTATION = "submissionDocumentation"
    PRESERVATION = "preservation"
    SERVICE = "service"
    ACCESS = "access"
    LICENSE = "license"
    TEXT_OCR = "text/ocr"
    METADATA = "metadata"
    DERIVATIVE = "derivative"


#: Order of the fileGrps in the fileSec (empty groups are omitted).
FILE_GROUP_ORDER: tuple[FileUse, ...] = tuple(FileUse)


@dataclass(frozen=True)
class Agent:
    """A PREMIS agent: the software, the organization or the user behind an event."""

    identifier_type: str
    identifier_value: str
    name: str
    type: str

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the agent (type, value): agents are deduplicated on it."""
        return (self.identifier_type, self.identifier_value)


@dataclass(frozen=True)
class Event:
    """A PREMIS event that happened to one file (or to the AIP)."""

    uuid: UUID
    type: str
    datetime: datetime
    detail: str = ""
    outcome: str = ""
    outcome_detail_note: str = ""
    agents: tuple[Agent, ...] = ()


@dataclass(frozen=True)
class FormatInfo:
    """A file's identified format; ``puid`` empty when only the name is known."""

    name: str
    version: str = ""
    puid: str = ""
    registry_name: str = "PRONOM"


@dataclass(frozen=True)
class Derivation:
    """A ``derivation`` relationship between an original and one of its derivatives.

    On the original, ``sub_type`` is ``"is source of"`` and ``related_uuid`` names the
    derivative; on the derivative it is ``"has source"`` and names the original.
    ``event_uuid`` is the normalization event that produced the derivative.
    """

    related_uuid: UUID
    event_uuid: UUID | None = None
    sub_type: str = "is source of"
    type: str = "derivation"


@dataclass(frozen=True)
class RightsGranted:
    """One act granted (or restricted) by a rights statement."""

    act: str
    restrictions: tuple[str, ...] = ()
    start_date: date | None = None
    end_date: date | None = None
    end_open: bool = False
    note: str = ""


@dataclass(frozen=True)
class DocumentationIdentifier:
    """A document backing a rights statement (a deed, a contract): type, value, role."""

    type: str
    value: str
    role: str = ""


@dataclass(frozen=True)
class RightsRecord:
    """A PREMIS rights statement (from rights.csv or the UI), applied to originals.

    ``basis`` is one of Copyright, Statute, License, Donor, Policy, Other; the fields
    of the matching basis are used, the others ignored. ``start_date``/``end_date``
    (``end_open`` for an open end) are the basis' applicable dates and
    ``documentation`` its documentation identifiers, whatever the basis. ``uuid``
    None lets the builder draw one from its id generator.
    """

    basis: str
    uuid: UUID | None = None
    start_date: date | None = None
    end_date: date | None = None
    end_open: bool = False
    documentation: tuple[DocumentationIdentifier, ...] = ()
    copyright_status: str = ""
    copyright_jurisdiction: str = ""
    copyright_determination_date: date | None = None
    copyright_note: str = ""
    license_terms: str = ""
    license_note: str = ""
    statute_jurisdiction: str = ""
    statute_citation: str = ""
    statute_determination_date: date | None = None
    statute_note: str = ""
    other_basis: str = ""
    other_note: str = ""
    granted: tuple[RightsGranted, ...] = ()


@dataclass(frozen=True)
class DublinCoreRecord:
    """Descriptive metadata for one path, as metadata.csv or the UI give it.

    ``path`` is ``"objects"`` for the SIP-level record, else a file or directory path
    relative to ``data/`` (``objects/photos``). ``elements`` keeps csv column order:
    ``("dc.title", "A title")``; columns outside ``dc.``/``dcterms.`` become a custom
    (``OTHER``/``CUSTOM``) dmdSec.

    ``created`` is set on a record carried over from the METS being replaced on
    reingest: its dmdSec keeps that ``CREATED``. Several records for one path are that
    path's version history, oldest first (see :mod:`custos.mets.mets` for the STATUS
    values they get).
    """

    path: str
    elements: tuple[tuple[str, str], ...]
    created: datetime | None = None


@dataclass(frozen=True)
class Directory:
    """A directory of the AIP, optionally with the UUID it was given at transfer.

    A directory with a ``uuid`` gets its own PREMIS intellectual-entity dmdSec, linked
    from its structMap divs. ``original_name`` is the PREMIS ``originalName``
    (Archivematica uses the directory's original location,
    ``%transferDirectory%objects/photos/``); empty means ``%SIPDirectory%<path>/``.
    ``identifiers`` are more (type, value) ``objectIdentifier``s of its entity after the
    UUID (identifiers.json).
    """

    path: str
    uuid: UUID | None = None
    original_name: str = ""
    identifiers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BagInfo:
    """The bag-info.txt of one transfer that arrived as a BagIt bag.

    ``fields`` are (label, value) pairs in file order; a label repeated in the file is
    repeated here.
    """

    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DescriptiveSection:
    """A further dmdSec taken from another METS (a Dataverse dataset's DDI, a DSpace
    item's references): ``content`` is the serialized ``mets:mdWrap`` or ``mets:mdRef``
    it holds. It describes ``path`` (a file or directory relative to ``data/``), linked
    from its structMap div, or, ``on_file``, from the file's ``mets:file`` (where
    Archivematica links a DSpace item's dmdSecs)."""

    path: str
    content: bytes
    on_file: bool = False


@dataclass(frozen=True)
class AIPFile:
    """One file in the AIP: its identity, fixity, format, provenance and rights.

    ``identifiers`` are (type, value) ``objectIdentifier``s after the UUID (PIDs,
    identifiers.json); ``label`` replaces the file name as its physical structMap div's
    LABEL (file_labels.csv). ``rights_refs`` are serialized ``mets:mdRef`` elements, each
    a further ``rightsMD`` of an original (a DSpace item's METS rights).
    """

    uuid: UUID
    path: str
    use: FileUse
    size: int
    checksum: str
    checksum_algorithm: str = "sha256"
    group_uuid: UUID | None = None
    format: FormatInfo | None = None
    original_name: str = ""
    date_created_by_application: datetime | None = None
    characterization: tuple[bytes, ...] = ()
    derivations: tuple[Derivation, ...] = ()
    events: tuple[Event, ...] = ()
    rights: tuple[RightsRecord, ...] = ()
    identifiers: tuple[tuple[str, str], ...] = ()
    label: str = ""
    rights_refs: tuple[bytes, ...] = ()

    @property
    def group(self) -> UUID:
        """UUID shared by an original and its derivatives (``GROUPID``)."""
        return self.group_uuid or self.uuid


@dataclass(frozen=True)
class AIP:
    """The intellectual entity and everything its METS describes.

    ``directories`` lists directory paths relative to ``data/`` (or
    :class:`Directory` entries, to give a directory its UUID) that must appear in the
    normative structMap even when they hold no file (empty directories);
    ``identifiers`` are extra (type, value) identifiers of the entity (ULID, EXID...).
    ``bag_info`` holds the bag-info.txt of each source transfer that was a bag.

    ``structmaps`` are more ``mets:structMap`` elements (serialized XML whose pointers
    already name this AIP's ``file-<uuid>`` IDs: a transfer's mets_structmap.xml),
    appended after the built ones.

    ``descriptive`` are further dmdSecs taken from another METS (Dataverse, DSpace).

    ``created`` is set on reingest to the ``CREATEDATE`` of the METS being replaced:
    the new METS keeps it and records the build time as ``LASTMODDATE``.
    """

    uuid: UUID
    name: str
    files: tuple[AIPFile, ...]
    directories: tuple[str | Directory, ...] = ()
    dublin_core: tuple[DublinCoreRecord, ...] = ()
    identifiers: tuple[tuple[str, str], ...] = ()
    bag_info: tuple[BagInfo, ...] = ()
    created: datetime | None = None
    structmaps: tuple[bytes, ...] = ()
    descriptive: tuple[DescriptiveSection, ...] = ()

    @property
    def dirname(self) -> str:
        """The AIP's directory (and bag) name: ``<name>-<uuid>``."""
        return f"{self.name}-{self.uuid}"
