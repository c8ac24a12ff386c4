"""Directory entities, bag-info sourceMD and reingest (LASTMODDATE, dmdSec history)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import metsrw
import pytest
from lxml import etree

from custos.errors import InvalidInput
from custos.mets.mets import build_mets, mets_bytes
from custos.mets.model import AIP, BagInfo, Directory
from custos.mets.ns import XPATH_NS, mets, premis
from custos.mets.read import read_mets
from custos.mets.sourcemd import bag_info_element, bag_info_fields
from custos.mets.validate import mets_problems

GOLDEN_REINGEST = Path(__file__).parent / "golden" / "METS.reingest.xml"
DOCS_UUID = "00000000-0000-0000-0000-000000000258"
EMPTY_UUID = "00000000-0000-0000-0000-000000000259"


@pytest.fixture
def built(aip: AIP, fixed_clock: Callable[[], datetime], fixed_ids: Callable[[], UUID]) -> bytes:
    return mets_bytes(build_mets(aip, now=fixed_clock, new_id=fixed_ids))


@pytest.fixture
def rebuilt(
    reingested: AIP, fixed_clock: Callable[[], datetime], fixed_ids: Callable[[], UUID]
) -> bytes:
    return mets_bytes(build_mets(reingested, now=fixed_clock, new_id=fixed_ids))


def _xpath(doc: bytes, expr: str) -> list[etree._Element]:
    result = etree.fromstring(doc).xpath(expr, namespaces=XPATH_NS)
    assert isinstance(result, list)
    return [e for e in result if isinstance(e, etree._Element)]


# --- directories with UUIDs -------------------------------------------------------------


def test_directory_entities_linked_from_both_structmaps(built: bytes) -> None:
    (docs_dmd,) = _xpath(built, f"//mets:dmdSec[.//premis:objectIdentifierValue='{DOCS_UUID}']")
    entity = docs_dmd.find(f".//{premis('object')}")
    assert entity is not None
    assert entity.get("{http://www.w3.org/2001/XMLSchema-instance}type") == (
        "premis:intellectualEntity"
    )
    assert entity.findtext(premis("originalName")) == "%SIPDirectory%objects/docs/"
    docs_divs = _xpath(built, "//mets:structMap/mets:div/mets:div/mets:div[@LABEL='docs']")
    assert len(docs_divs) == 2  # physical and normative
    for div in docs_divs:
        # The directory's entity first, then its Dublin Core (as Archivematica orders it).
        assert div.get("DMDID", "").split()[0] == docs_dmd.get("ID")
        assert len(div.get("DMDID", "").split()) == 2
    # An empty directory is only in the normative structMap, with its entity.
    (empty_div,) = _xpath(built, "//mets:div[@LABEL='empty']")
    (empty_dmd,) = _xpath(built, f"//mets:dmdSec[@ID='{empty_div.get('DMDID')}']")
    assert empty_dmd.findtext(f".//{premis('originalName')}") == (
        "%transferDirectory%objects/empty/"
    )
    # A directory without UUID gets no entity.
    (child_div,) = _xpath(built, "//mets:div[@LABEL='empty-child']")
    assert child_div.get("DMDID") is None


def test_read_mets_directory_uuids(built: bytes) -> None:
    contents = read_mets(built)
    assert contents.directories == {"objects/docs": DOCS_UUID, "objects/empty": EMPTY_UUID}
    assert contents.lastmoddate == ""


def test_metsrw_sees_directory_entity_and_source_md(built: bytes) -> None:
    doc = metsrw.METSDocument.fromstring(built)
    docs = doc.get_file(type="Directory", label="docs")
    assert [d.contents.mdtype for d in docs.dmdsecs] == ["PREMIS:OBJECT", "DC"]
    objects = doc.get_file(type="Directory", label="objects")
    (amdsec,) = objects.amdsecs
    (source,) = amdsec.subsections
    assert source.subsection == "sourceMD"
    assert source.contents.othermdtype == "BagIt"


def test_two_uuids_for_one_directory_is_invalid_input(aip: AIP) -> None:
    first, second = UUID(int=1), UUID(int=2)
    broken = dataclasses.replace(
        aip, directories=(Directory("objects/docs", first), Directory("objects/docs/", second))
    )
    with pytest.raises(InvalidInput, match="two UUIDs for directory objects/docs"):
        build_mets(broken)


# --- bag-info sourceMD ----------------------------------------------------------------


def test_bag_info_source_md_in_amdsec_of_objects_div(built: bytes) -> None:
    (amd,) = _xpath(built, "//mets:amdSec[mets:sourceMD]")
    assert [etree.QName(c).localname for c in amd] == ["sourceMD"]  # empty bag-info skipped
    wrap = amd.find(f"{mets('sourceMD')}/{mets('mdWrap')}")
    assert wrap is not None
    assert (wrap.get("MDTYPE"), wrap.get("OTHERMDTYPE")) == ("OTHER", "BagIt")
    (objects_div,) = _xpath(built, "//mets:structMap[@TYPE='physical']//mets:div[@LABEL='objects']")
    assert objects_div.get("ADMID") == amd.get("ID")
    # The file amdSecs come first; the normative structMap carries no ADMID.
    assert amd.get("ID") == "amdSec_6"
    assert not _xpath(built, "//mets:structMap[@TYPE='logical']//mets:div[@ADMID]")


def test_read_mets_bag_info(built: bytes, aip: AIP) -> None:
    fields = aip.bag_info[0].fields
    assert ("Contact Name", "Kim") in fields and ("Keyword", "reports") in fields
    # Every field comes back in order; a label that is not an XML name is made into one.
    expected = [("Contact_Name", v) if k == "Contact Name" else (k, v) for k, v in fields]
    assert read_mets(built).bag_info == [expected]


def test_no_bag_no_source_amdsec(aip: AIP) -> None:
    tree = build_mets(dataclasses.replace(aip, bag_info=(BagInfo(()),)))
    assert not tree.getroot().xpath("//mets:sourceMD | //mets:div[@ADMID]", namespaces=XPATH_NS)
    assert len(tree.getroot().findall(mets("amdSec"))) == len(aip.files)


def test_bag_info_element_round_trip_and_bad_value() -> None:
    element = bag_info_element([("External-Identifier", "x"), ("1st", "y")])
    assert element.tag == "transfer_metadata"
    assert bag_info_fields(element) == [("External-Identifier", "x"), ("_1st", "y")]
    with pytest.raises(InvalidInput, match="Bagging-Date"):
        bag_info_element([("Bagging-Date", "2024\x00")])


# --- reingest --------------------------------------------------------------------------


def test_reingest_golden_bytes(rebuilt: bytes) -> None:
    if os.environ.get("CUSTOS_UPDATE_GOLDEN"):
        GOLDEN_REINGEST.write_bytes(rebuilt)
    assert rebuilt == GOLDEN_REINGEST.read_bytes()


def test_reingest_header_keeps_createdate_and_adds_lastmoddate(rebuilt: bytes) -> None:
    header = etree.fromstring(rebuilt).find(mets("metsHdr"))
    assert header is not None
    assert dict(header.attrib) == {
        "CREATEDATE": "2023-06-01T08:00:00",
        "LASTMODDATE": "2024-03-01T10:00:00",
    }
    contents = read_mets(rebuilt)
    assert (contents.createdate, contents.lastmoddate) == (
        "2023-06-01T08:00:00",
        "2024-03-01T10:00:00",
    )


def test_reingest_dmdsec_history(rebuilt: bytes) -> None:
    dmd = read_mets(rebuilt).dmdsecs
    # Entities (AIP, docs, empty) keep the first creation date.
    for ident in ("dmdSec_1", "dmdSec_2", "dmdSec_3"):
        assert dmd[ident]["mdtype"] == "PREMIS:OBJECT"
        assert (dmd[ident]["created"], dmd[ident]["status"]) == ("2023-06-01T08:00:00", "original")
    # SIP-level DC: carried-over version superseded by the edited one, one group.
    old_dc, custom, new_dc = dmd["dmdSec_4"], dmd["dmdSec_5"], dmd["dmdSec_8"]
    assert (old_dc["mdtype"], old_dc["status"], old_dc["created"]) == (
        "DC",
        "original-superseded",
        "2023-06-01T08:00:00",
    )
    assert (new_dc["mdtype"], new_dc["status"], new_dc["created"]) == (
        "DC",
        "update",
        "2024-03-01T10:00:00",
    )
    assert old_dc["group"] and old_dc["group"] == new_dc["group"]
    # The custom columns were not edited: one version, original, no group.
    assert (custom["othermdtype"], custom["status"], custom["group"]) == ("CUSTOM", "original", "")
    assert custom["created"] == "2023-06-01T08:00:00"
    (objects_div,) = _xpath(
        rebuilt, "//mets:structMap[@TYPE='physical']//mets:div[@LABEL='objects']"
    )
    assert objects_div.get("DMDID") == "dmdSec_4 dmdSec_5 dmdSec_8"


def test_reingest_metsrw_reads_history(rebuilt: bytes) -> None:
    doc = metsrw.METSDocument.fromstring(rebuilt)
    objects = doc.get_file(type="Directory", label="objects")
    assert [d.status for d in objects.dmdsecs_by_mdtype["DC"]] == ["original-superseded", "update"]
    serialized = etree.tostring(doc.serialize())
    assert b'STATUS="original-superseded"' in serialized


def test_reingest_group_id_is_stable(reingested: AIP) -> None:
    def group(when: datetime) -> str:
        tree = build_mets(reingested, now=lambda: when)
        return str(
            tree.getroot().xpath("string(//mets:dmdSec[@GROUPID]/@GROUPID)", namespaces=XPATH_NS)
        )

    assert group(datetime(2024, 5, 1, tzinfo=UTC)) == group(datetime(2025, 1, 1, tzinfo=UTC)) != ""


def test_created_after_now_is_invalid_input(reingested: AIP) -> None:
    with pytest.raises(InvalidInput, match="after the build time"):
        build_mets(reingested, now=lambda: datetime(2020, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("which", ["sample", "reingest"])
def test_new_parts_validate(which: str, built: bytes, rebuilt: bytes) -> None:
    assert mets_problems(built if which == "sample" else rebuilt) == []
