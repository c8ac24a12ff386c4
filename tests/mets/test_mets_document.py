"""The AIP METS: golden bytes, schema validity, metsrw and lxml read-back, structure."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from uuid import UUID

import metsrw
import pytest
from lxml import etree

from custos.errors import InvalidInput
from custos.mets.mets import build_mets, mets_bytes, write_mets
from custos.mets.model import AIP
from custos.mets.ns import XPATH_NS, mets, premis
from custos.mets.read import read_mets
from custos.mets.validate import assert_valid_mets, mets_problems, parse_mets

GOLDEN = Path(__file__).parent / "golden" / "METS.sample.xml"


@pytest.fixture
def built(aip: AIP, fixed_clock: Callable[[], datetime], fixed_ids: Callable[[], UUID]) -> bytes:
    return mets_bytes(build_mets(aip, now=fixed_clock, new_id=fixed_ids))


def test_golden_bytes(built: bytes) -> None:
    if os.environ.get("CUSTOS_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(built)
    assert built == GOLDEN.read_bytes()


def test_createdate_is_naive_utc_seconds(built: bytes) -> None:
    root = etree.fromstring(built)
    # 12:00:00.123456+02:00 is 10:00:00 UTC; no offset, no fraction (metsrw compares strings).
    assert root.find(mets("metsHdr")).get("CREATEDATE") == "2024-03-01T10:00:00"


def test_validates_against_bundled_schemas(built: bytes, tmp_path: Path) -> None:
    assert mets_problems(built) == []
    path = write_mets(parse_mets(built), tmp_path / "METS.xml")
    assert_valid_mets(path)


def test_broken_mets_fails_with_clear_messages(built: bytes) -> None:
    tree = parse_mets(built)
    event_type = next(tree.iter(premis("eventType")))
    event_type.getparent().remove(event_type)
    file_grp = next(tree.iter(mets("fileGrp")))
    file_grp.set("BOGUS", "1")
    with pytest.raises(InvalidInput) as info:
        assert_valid_mets(tree)
    problems = info.value.details
    assert len(problems) == 2
    assert any("BOGUS" in p and "not allowed" in p for p in problems)
    assert any(p.startswith("PREMIS in digiprovMD_1") and "eventType" in p for p in problems)


def test_malformed_xml_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not well-formed"):
        mets_problems(b"<mets:mets xmlns:mets='http://www.loc.gov/METS/'>")


def test_metsrw_reads_back_files_events_agents(built: bytes, aip: AIP) -> None:
    doc = metsrw.METSDocument.fromstring(built)
    items = {fs.file_uuid: fs for fs in doc.all_files() if fs.type == "Item"}
    assert set(items) == {str(f.uuid) for f in aip.files}
    for f in aip.files:
        entry = items[str(f.uuid)]
        assert entry.path == f.path and entry.use == f.use.value
        (obj,) = entry.get_premis_objects()
        assert obj.message_digest == f.checksum
        assert [e.event_type for e in entry.get_premis_events()] == [e.type for e in f.events]
        agents = {(a.identifier_type, a.identifier_value) for a in entry.get_premis_agents()}
        assert agents == {a.key for e in f.events for a in e.agents}
    original = items["00000000-0000-0000-0000-000000000001"]
    assert len(original.get_premis_rights()) == 2
    assert items["00000000-0000-0000-0000-000000000002"].get_premis_rights() == []
    # Empty directories come back through the normative structMap.
    dirs = {fs.label for fs in doc.all_files() if fs.type == "Directory"}
    assert {"empty", "empty-child", "docs", "objects"} <= dirs


def test_lxml_reader(built: bytes, aip: AIP) -> None:
    contents = read_mets(built)
    assert contents.createdate == "2024-03-01T10:00:00"
    assert set(contents.files) == {str(f.uuid) for f in aip.files}
    assert len(contents.events) == sum(len(f.events) for f in aip.files)
    assert set(contents.agents) == {
        f"{t}:{v}" for f in aip.files for e in f.events for t, v in [a.key for a in e.agents]
    }
    derivative = contents.files["00000000-0000-0000-0000-000000000002"]
    assert derivative["use"] == "preservation"
    assert derivative["group"] == "00000000-0000-0000-0000-000000000001"
    assert derivative["puid"] == "fmt/476" and derivative["size"] == 2048
    assert derivative["relationships"] == [
        {
            "sub_type": "has source",
            "related_uuid": "00000000-0000-0000-0000-000000000001",
            "event_uuid": "00000000-0000-0000-0000-000000000067",
        }
    ]
    unknown = contents.files["00000000-0000-0000-0000-000000000003"]
    assert unknown["format_name"] == "Unknown" and unknown["puid"] == ""
    event = contents.events["00000000-0000-0000-0000-000000000066"]
    assert event["type"] == "format identification" and event["outcome"] == "Positive"
    assert event["agents"][0] == "preservation system:Custos-0.1.0"


def test_structure(built: bytes) -> None:
    root = etree.fromstring(built)
    children = [etree.QName(c).localname for c in root]
    assert children[0] == "metsHdr"
    assert children.index("fileSec") > max(i for i, c in enumerate(children) if c == "amdSec")
    groups = root.xpath("mets:fileSec/mets:fileGrp/@USE", namespaces=XPATH_NS)
    assert groups == ["original", "submissionDocumentation", "preservation", "metadata"]
    amd = root.xpath("mets:amdSec[1]", namespaces=XPATH_NS)[0]
    kinds = [(etree.QName(s).localname, s.find(f"{mets('mdWrap')}").get("MDTYPE")) for s in amd]
    # techMD, then rightsMD (originals only), events, then each distinct agent once.
    assert kinds[0] == ("techMD", "PREMIS:OBJECT")
    original_amd = root.xpath(
        "mets:amdSec[mets:techMD//premis:objectIdentifierValue="
        "'00000000-0000-0000-0000-000000000001']",
        namespaces=XPATH_NS,
    )[0]
    kinds = [s.find(mets("mdWrap")).get("MDTYPE") for s in original_amd]
    assert (
        kinds
        == ["PREMIS:OBJECT"] + ["PREMIS:RIGHTS"] * 2 + ["PREMIS:EVENT"] * 4 + ["PREMIS:AGENT"] * 3
    )
    physical, logical = root.findall(mets("structMap"))
    assert (physical.get("TYPE"), physical.get("LABEL")) == ("physical", "Archivematica default")
    assert (logical.get("TYPE"), logical.get("LABEL")) == (
        "logical",
        "Normative Directory Structure",
    )
    assert not physical.xpath(".//mets:div[@LABEL='empty']", namespaces=XPATH_NS)
    assert logical.xpath(".//mets:div[@LABEL='empty' and @TYPE='Directory']", namespaces=XPATH_NS)
    assert not logical.xpath(".//mets:fptr", namespaces=XPATH_NS)
    # SIP-level DC (and the custom column) hang on the objects div; per-file DC on the item.
    objects_div = physical.xpath("mets:div/mets:div[@LABEL='objects']", namespaces=XPATH_NS)[0]
    # dmdSec_1 is the AIP, dmdSec_2 and _3 the directories with UUIDs (docs, empty).
    assert objects_div.get("DMDID") == "dmdSec_4 dmdSec_5"
    item = physical.xpath(".//mets:div[@LABEL='report.txt']", namespaces=XPATH_NS)[0]
    assert item.get("DMDID") == "dmdSec_6"
    assert root.xpath("string(//mets:dmdSec[@ID='dmdSec_5']//Box)", namespaces=XPATH_NS) == "3"


def test_without_normative_structmap(aip: AIP) -> None:
    tree = build_mets(aip, normative_structmap=False)
    assert len(tree.getroot().findall(mets("structMap"))) == 1
    assert mets_problems(tree) == []


def test_characterization_entities_are_not_resolved(aip: AIP, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = (f'<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]><x>&e;</x>').encode()
    first = aip.files[0]
    evil = AIP(
        aip.uuid, aip.name, (type(first)(**{**first.__dict__, "characterization": (hostile,)}),)
    )
    assert b"TOP-SECRET" not in mets_bytes(build_mets(evil))


def test_bad_dublin_core_path_is_invalid_input(aip: AIP) -> None:
    from custos.mets.model import DublinCoreRecord

    broken = AIP(aip.uuid, aip.name, aip.files, dublin_core=(DublinCoreRecord("objects/nope", ()),))
    with pytest.raises(InvalidInput, match="objects/nope"):
        build_mets(broken)
