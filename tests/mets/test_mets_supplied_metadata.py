"""What a transfer's supplied metadata adds to the METS builder's input, byte for byte:
full rights statements, extra identifiers (file, directory, AIP), labels and a custom
structMap (golden file ``golden/METS.supplied.xml``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import metsrw
import pytest
from lxml import etree

from custos.errors import InvalidInput
from custos.mets.mets import build_mets, mets_bytes
from custos.mets.model import (
    AIP,
    Directory,
    DocumentationIdentifier,
    FileUse,
    RightsGranted,
    RightsRecord,
)
from custos.mets.ns import XPATH_NS
from custos.mets.validate import mets_problems

GOLDEN = Path(__file__).parent / "golden" / "METS.supplied.xml"

STRUCTMAP = b"""<mets:structMap xmlns:mets="http://www.loc.gov/METS/" TYPE="logical"
  ID="structMap_1" LABEL="Book"><mets:div TYPE="book" LABEL="A book"><mets:div TYPE="page"
  LABEL="Page 1"><mets:fptr FILEID="%s" CONTENTIDS="objects/a.txt"/></mets:div></mets:div>
</mets:structMap>"""

RIGHTS = (
    RightsRecord(
        "Copyright",
        copyright_status="copyrighted",
        copyright_jurisdiction="ca",
        copyright_determination_date=date(2011, 1, 1),
        copyright_note="expires 2061",
        start_date=date(2011, 1, 1),
        end_open=True,
        documentation=(DocumentationIdentifier("Copyright ID", "CR-1", "role"),),
        granted=(RightsGranted("disseminate", ("Disallow",), date(2011, 1, 1), date(2061, 1, 1)),),
    ),
    RightsRecord(
        "License",
        license_terms="CC BY 4.0",
        start_date=date(2012, 2, 2),
        end_date=date(2032, 2, 2),
        documentation=(DocumentationIdentifier("License ID", "LIC-7", "Deed"),),
        granted=(RightsGranted("publish", ("Allow",), date(2012, 2, 2), end_open=True),),
    ),
    RightsRecord(
        "Statute",
        statute_jurisdiction="us",
        statute_citation="17 U.S.C. 107",
        statute_note="Fair use",
        documentation=(DocumentationIdentifier("Statute ID", "ST-3"),),
    ),
    RightsRecord("Donor", other_note="Donor says so", start_date=date(2020, 1, 1)),
)


@pytest.fixture
def supplied(aip: AIP) -> AIP:
    """The sample AIP with what supplied metadata files add."""
    original = next(f for f in aip.files if f.use is FileUse.ORIGINAL)
    directory = str(Path(original.path).parent)
    files = tuple(
        dataclasses.replace(
            f,
            rights=RIGHTS,
            identifiers=(("URI", "https://hdl.handle.net/1/A"), ("ULID", "01HBX0W5M3")),
            label="First page (1921)",
        )
        if f is original
        else f
        for f in aip.files
    )
    return dataclasses.replace(
        aip,
        files=files,
        identifiers=(("EXID", "EX-42"),),
        directories=tuple(
            dataclasses.replace(d, identifiers=(("URI", "https://example.org/d"),))
            if isinstance(d, Directory) and d.path == directory
            else d
            for d in aip.directories
        ),
        structmaps=(STRUCTMAP % f"file-{original.uuid}".encode(),),
    )


@pytest.fixture
def built(
    supplied: AIP, fixed_clock: Callable[[], datetime], fixed_ids: Callable[[], UUID]
) -> bytes:
    return mets_bytes(build_mets(supplied, now=fixed_clock, new_id=fixed_ids))


def test_golden_bytes(built: bytes) -> None:
    if os.environ.get("CUSTOS_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(built)
    assert built == GOLDEN.read_bytes()


def test_valid_and_read_back_by_metsrw(built: bytes, supplied: AIP) -> None:
    assert mets_problems(built) == []
    doc = metsrw.METSDocument.fromstring(built)
    original = next(f for f in supplied.files if f.use is FileUse.ORIGINAL)
    entry = doc.get_file(file_uuid=str(original.uuid))
    assert entry is not None and entry.label == "First page (1921)"
    assert len(entry.get_premis_rights()) == 4
    ids = [
        (i.object_identifier_type, i.object_identifier_value)
        for i in entry.get_premis_objects()[0].findall("object_identifier")
    ]
    assert ids[1:] == [("URI", "https://hdl.handle.net/1/A"), ("ULID", "01HBX0W5M3")]


def test_custom_structmap_after_the_built_ones_with_a_fresh_id(built: bytes) -> None:
    root = etree.fromstring(built)
    maps = root.xpath("mets:structMap", namespaces=XPATH_NS)
    assert [(m.get("ID"), m.get("LABEL")) for m in maps] == [
        ("structMap_1", "Archivematica default"),
        ("structMap_2", "Normative Directory Structure"),
        ("structMap_3", "Book"),  # its own ID was taken
    ]


def test_a_supplied_structmap_that_is_not_one_is_refused(
    supplied: AIP, fixed_clock: Callable[[], datetime]
) -> None:
    bad = dataclasses.replace(supplied, structmaps=(b"<div/>",))
    with pytest.raises(InvalidInput, match="not a mets:structMap"):
        build_mets(bad, now=fixed_clock)
