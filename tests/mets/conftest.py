"""A small but complete AIP (originals, a derivative, metadata, rights, DC, empty dirs,
directory UUIDs, bag-info), and the same AIP reingested with updated Dublin Core."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest

from custos.mets.model import (
    AIP,
    Agent,
    AIPFile,
    BagInfo,
    Derivation,
    Directory,
    DublinCoreRecord,
    Event,
    FileUse,
    FormatInfo,
    RightsGranted,
    RightsRecord,
)

WHEN = datetime(2024, 3, 1, 10, 30, 0, tzinfo=UTC)
#: CREATEDATE of the METS a reingest replaces.
FIRST_CREATED = datetime(2023, 6, 1, 8, 0, 0, tzinfo=UTC)
BAG_INFO = (
    ("Bag-Software-Agent", "bagit.py v1.8.1"),
    ("Bagging-Date", "2024-02-28"),
    ("Payload-Oxum", "15.2"),
    ("Contact Name", "Kim"),
    ("Keyword", "letters"),
    ("Keyword", "reports"),
)
AGENTS = (
    Agent("preservation system", "Custos-0.1.0", "Custos", "software"),
    Agent("repository code", "ORG", "Example Org", "organization"),
    Agent("Custos user pk", "1", 'username="kim"', "Custos user"),
)
FITS = b"""<fits xmlns="http://hul.harvard.edu/ois/xml/ns/fits/fits_output" version="1.5">
<identification><identity format="Plain text" mimetype="text/plain"/></identification></fits>"""


def u(n: int) -> UUID:
    """A readable fixed UUID."""
    return UUID(int=n)


def event(n: int, kind: str, outcome: str = "", detail: str = "") -> Event:
    return Event(u(n), kind, WHEN + timedelta(seconds=n), detail, outcome, "", AGENTS)


def sample_aip() -> AIP:
    original = AIPFile(
        uuid=u(1),
        path="objects/docs/report.txt",
        use=FileUse.ORIGINAL,
        size=12,
        checksum="a" * 64,
        format=FormatInfo("Plain Text File", "", "x-fmt/111"),
        original_name="%transferDirectory%objects/docs/report.txt",
        characterization=(FITS,),
        derivations=(Derivation(u(2), u(103)),),
        events=(
            event(100, "ingestion"),
            event(101, "message digest calculation", detail='program="python"'),
            event(102, "format identification", "Positive", 'program="Siegfried"'),
            event(103, "normalization", detail='program="libreoffice"'),
        ),
        rights=(
            RightsRecord(
                "Copyright",
                uuid=u(300),
                copyright_status="copyrighted",
                copyright_jurisdiction="ca",
                copyright_determination_date=date(2020, 1, 1),
                granted=(
                    RightsGranted("Disseminate", ("Disallow",), date(2020, 1, 1), None, True),
                ),
            ),
            RightsRecord("Donor", other_note="Gift agreement"),
        ),
    )
    derivative = AIPFile(
        uuid=u(2),
        path="objects/docs/report-00000000-0000-0000-0000-000000000002.pdf",
        use=FileUse.PRESERVATION,
        size=2048,
        checksum="b" * 64,
        group_uuid=u(1),
        format=FormatInfo("Acrobat PDF/A", "2b", "fmt/476"),
        original_name="%SIPDirectory%objects/docs/report-00000000-0000-0000-0000-000000000002.pdf",
        derivations=(Derivation(u(1), u(103), "has source"),),
        events=(event(104, "creation"), event(105, "validation", "pass")),
    )
    unknown = AIPFile(
        uuid=u(3),
        path="objects/blob.bin",
        use=FileUse.ORIGINAL,
        size=3,
        checksum="c" * 64,
        events=(event(106, "ingestion"),),
    )
    metadata = AIPFile(
        uuid=u(4),
        path="objects/metadata/transfers/t1-00000000-0000-0000-0000-000000000009/metadata.csv",
        use=FileUse.METADATA,
        size=80,
        checksum="d" * 64,
        events=(event(107, "ingestion"),),
    )
    subdoc = AIPFile(
        uuid=u(5),
        path="objects/submissionDocumentation/transfer-t1/METS.xml",
        use=FileUse.SUBMISSION_DOCUMENTATION,
        size=500,
        checksum="e" * 64,
        events=(event(108, "ingestion"),),
    )
    return AIP(
        uuid=u(500),
        name="sample",
        files=(original, derivative, unknown, metadata, subdoc),
        directories=(
            Directory("objects/empty", u(601), "%transferDirectory%objects/empty/"),
            "objects/docs/empty-child",
            Directory("objects/docs", u(600)),
        ),
        dublin_core=(
            DublinCoreRecord(
                "objects", (("dc.title", "Sample"), ("dc.creator", "Kim"), ("Box", "3"))
            ),
            DublinCoreRecord("objects/docs/report.txt", (("dc.title", "The report"),)),
            DublinCoreRecord("objects/docs", (("dcterms.description", "Documents"),)),
        ),
        identifiers=(("ULID", "01HQ0000000000000000000000"),),
        bag_info=(BagInfo(BAG_INFO), BagInfo(())),
    )


def reingested_aip() -> AIP:
    """The sample AIP on metadata reingest: every record carried over from the first
    METS keeps its CREATED, and the SIP-level title was edited (a new DC version)."""
    aip = sample_aip()
    carried = tuple(dataclasses.replace(r, created=FIRST_CREATED) for r in aip.dublin_core)
    edited = DublinCoreRecord("objects", (("dc.title", "Sample, revised"), ("dc.creator", "Kim")))
    return dataclasses.replace(aip, created=FIRST_CREATED, dublin_core=(*carried, edited))


@pytest.fixture
def aip() -> AIP:
    return sample_aip()


@pytest.fixture
def reingested() -> AIP:
    return reingested_aip()


@pytest.fixture
def fixed_clock() -> Callable[[], datetime]:
    # A non-UTC offset on purpose: CREATEDATE must still come out as naive UTC.
    return lambda: datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def fixed_ids() -> Callable[[], UUID]:
    counter = itertools.count(900)
    return lambda: u(next(counter))
