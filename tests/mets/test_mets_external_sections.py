"""Sections another METS gives the AIP METS (a Dataverse dataset's DDI, a DSpace item's
references): a dmdSec per section linked from its directory's or file's div, or from
the file's ``mets:file``, and ``rightsMD`` references of an original."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import pytest
from lxml import etree

from custos.errors import InvalidInput
from custos.mets.mets import build_mets, mets_bytes
from custos.mets.model import AIP, DescriptiveSection
from custos.mets.ns import XLINK_HREF, XPATH_NS
from custos.mets.validate import mets_problems

DDI = b"""<mets:mdWrap xmlns:mets="http://www.loc.gov/METS/" MDTYPE="DDI"><mets:xmlData>
<ddi:codebook xmlns:ddi="http://www.icpsr.umich.edu/DDI" version="2.5"/></mets:xmlData>
</mets:mdWrap>"""
REF = (
    b'<mets:mdRef xmlns:mets="http://www.loc.gov/METS/"'
    b' xmlns:xlink="http://www.w3.org/1999/xlink" LABEL="mets.xml-Group-1"'
    b' xlink:href="objects/docs/mets.xml" MDTYPE="OTHER" LOCTYPE="OTHER"'
    b' OTHERLOCTYPE="SYSTEM" XPTR="xpointer(id(\'dmdSec_1\'))"/>'
)
RIGHTS = REF.replace(b'MDTYPE="OTHER"', b'MDTYPE="OTHER" OTHERMDTYPE="METSRIGHTS"')


@pytest.fixture
def tree(
    aip: AIP, fixed_clock: Callable[[], datetime], fixed_ids: Callable[[], UUID]
) -> etree._Element:
    original = aip.files[0]
    files = (dataclasses.replace(original, rights_refs=(RIGHTS,)),) + aip.files[1:]
    extended = dataclasses.replace(
        aip,
        files=files,
        descriptive=(
            DescriptiveSection("objects", DDI),
            DescriptiveSection(original.path, DDI),
            DescriptiveSection(original.path, REF, on_file=True),
        ),
    )
    return etree.fromstring(mets_bytes(build_mets(extended, now=fixed_clock, new_id=fixed_ids)))


def _dmd(root: etree._Element, ids: str) -> list[etree._Element]:
    return [root.find(f"mets:dmdSec[@ID='{i}']", XPATH_NS) for i in ids.split()]


def test_sections_are_linked_where_they_belong(tree: etree._Element, aip: AIP) -> None:
    original = aip.files[0]
    physical = tree.find("mets:structMap[@TYPE='physical']", XPATH_NS)
    objects = physical.find(".//mets:div[@LABEL='objects']", XPATH_NS)
    objects_ddi = _dmd(tree, objects.get("DMDID", ""))[-1]  # after the sample's DC
    assert objects_ddi.find("mets:mdWrap", XPATH_NS).get("MDTYPE") == "DDI"
    assert objects_ddi.get("STATUS") == "original" and objects_ddi.get("CREATED")
    div = physical.find(".//mets:div[@LABEL='report.txt']", XPATH_NS)
    last = _dmd(tree, div.get("DMDID", ""))[-1]
    assert last.find("mets:mdWrap", XPATH_NS).get("MDTYPE") == "DDI"
    file_el = tree.find(f".//mets:file[@ID='file-{original.uuid}']", XPATH_NS)
    (ref_sec,) = _dmd(tree, file_el.get("DMDID", ""))
    ref = ref_sec.find("mets:mdRef", XPATH_NS)
    assert ref.get(XLINK_HREF) == "objects/docs/mets.xml"
    assert ref.get("XPTR") == "xpointer(id('dmdSec_1'))"
    amd = tree.find(f"mets:amdSec[@ID='{file_el.get('ADMID')}']", XPATH_NS)
    rights = amd.findall("mets:rightsMD", XPATH_NS)
    assert rights[-1].find("mets:mdRef", XPATH_NS).get("OTHERMDTYPE") == "METSRIGHTS"
    assert rights[0].find("mets:mdWrap", XPATH_NS).get("MDTYPE") == "PREMIS:RIGHTS"
    ids = [el.get("ID") for el in tree.iter() if el.get("ID")]
    assert len(ids) == len(set(ids))


def test_the_document_stays_valid(tree: etree._Element) -> None:
    assert mets_problems(etree.tostring(tree)) == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (DescriptiveSection("objects/nowhere", DDI), "not in the AIP"),
        (DescriptiveSection("objects", b"<mets:mdWrap"), "not well-formed"),
        (
            DescriptiveSection("objects", b"<fileSec xmlns='http://www.loc.gov/METS/'/>"),
            "not one of",
        ),
    ],
)
def test_a_section_that_cannot_be_placed_is_refused(
    aip: AIP, section: DescriptiveSection, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_mets(dataclasses.replace(aip, descriptive=(section,)))
