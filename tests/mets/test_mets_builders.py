"""Each builder alone: PREMIS object/event/agent, rights per basis, Dublin Core split."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from custos.errors import InvalidInput
from custos.mets import dublincore, premis, rights
from custos.mets.model import AIP, RightsGranted, RightsRecord
from custos.mets.ns import DC_NS, DCTERMS_NS
from custos.mets.validate import premis_problems


def test_premis_elements_validate_alone(aip: AIP) -> None:
    for f in aip.files:
        assert premis_problems(premis.file_object(f)) == []
        for event in f.events:
            assert premis_problems(premis.event_element(event)) == []
            for agent in event.agents:
                assert premis_problems(premis.agent_element(agent)) == []
    entity = premis.intellectual_entity(aip.uuid, aip.dirname, aip.identifiers)
    assert premis_problems(entity) == []


def test_premis_problems_catch_wrong_order(aip: AIP) -> None:
    obj = premis.file_object(aip.files[0])
    obj.append(obj[0])  # objectIdentifier moved to the end
    assert any("objectIdentifier" in p for p in premis_problems(obj))


@pytest.mark.parametrize(
    "record",
    [
        RightsRecord("copyright", copyright_status="copyrighted", copyright_jurisdiction="us"),
        RightsRecord("License", license_terms="CC-BY 4.0", license_note="see deed"),
        RightsRecord(
            "Statute",
            statute_jurisdiction="ca",
            statute_citation="R.S.C. c. 42",
            statute_determination_date=date(2021, 5, 1),
        ),
        RightsRecord(
            "Policy",
            other_note="Reading room only",
            granted=(
                RightsGranted(
                    "Publish", ("Disallow",), date(2020, 1, 1), date(2030, 1, 1), note="embargo"
                ),
            ),
        ),
    ],
)
def test_rights_validate_for_each_basis(record: RightsRecord) -> None:
    element = rights.rights_element(record, statement_uuid=UUID(int=1), object_uuid=UUID(int=2))
    assert premis_problems(element) == []
    basis = element.findtext(".//{http://www.loc.gov/premis/v3}rightsBasis")
    assert basis == ("Other" if record.basis == "Policy" else record.basis.capitalize())


def test_dublin_core_split_and_custom_names() -> None:
    dc, other = dublincore.split_columns(
        [("dc.title", "T"), ("dcterms.isPartOf", "S"), ("Box no.", "3"), ("1st", "x")]
    )
    assert dc == [(f"{{{DC_NS}}}title", "T"), (f"{{{DCTERMS_NS}}}isPartOf", "S")]
    assert [e.tag for e in dublincore.custom_elements(other)] == ["Box_no.", "_1st"]
    root = dublincore.dublin_core_element(dc)
    assert [c.text for c in root] == ["T", "S"]


def test_malformed_characterization_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not well-formed"):
        premis.parse_fragment(b"<fits><unclosed></fits>")
