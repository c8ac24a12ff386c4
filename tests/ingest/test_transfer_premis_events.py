"""``metadata/premis.xml``: events that happened before transfer, in the AIP METS."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from .transfer_metadata_support import (
    NS,
    failed_at,
    job,
    make_source,
    run_to_aip,
    run_transfer_inline,
)

EVENT_UUID = "6f8d0a64-2f8e-4f3c-9d7a-2c8a1b9e0f11"

PREMIS = f"""<?xml version="1.0" encoding="UTF-8"?>
<premis:premis xmlns:premis="http://www.loc.gov/premis/v3"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="3.0">
  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>local</premis:objectIdentifierType>
      <premis:objectIdentifierValue>scan-1</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:objectCharacteristics><premis:format><premis:formatDesignation>
      <premis:formatName>text</premis:formatName></premis:formatDesignation></premis:format>
    </premis:objectCharacteristics>
    <premis:originalName>objects/scan.txt</premis:originalName>
    <premis:linkingEventIdentifier>
      <premis:linkingEventIdentifierType>local</premis:linkingEventIdentifierType>
      <premis:linkingEventIdentifierValue>EVT-2</premis:linkingEventIdentifierValue>
    </premis:linkingEventIdentifier>
  </premis:object>
  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>local</premis:objectIdentifierType>
      <premis:objectIdentifierValue>notes-1</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:objectCharacteristics><premis:format><premis:formatDesignation>
      <premis:formatName>text</premis:formatName></premis:formatDesignation></premis:format>
    </premis:objectCharacteristics>
    <premis:originalName>objects/notes.txt</premis:originalName>
  </premis:object>
  <premis:event>
    <premis:eventIdentifier>
      <premis:eventIdentifierType>UUID</premis:eventIdentifierType>
      <premis:eventIdentifierValue>{EVENT_UUID}</premis:eventIdentifierValue>
    </premis:eventIdentifier>
    <premis:eventType>capture</premis:eventType>
    <premis:eventDateTime>2019-05-04T10:11:12Z</premis:eventDateTime>
    <premis:eventDetailInformation>
      <premis:eventDetail>Scanned at 600 dpi</premis:eventDetail>
    </premis:eventDetailInformation>
    <premis:eventOutcomeInformation>
      <premis:eventOutcome>success</premis:eventOutcome>
      <premis:eventOutcomeDetail>
        <premis:eventOutcomeDetailNote>operator checked</premis:eventOutcomeDetailNote>
      </premis:eventOutcomeDetail>
    </premis:eventOutcomeInformation>
    <premis:linkingAgentIdentifier>
      <premis:linkingAgentIdentifierType>local</premis:linkingAgentIdentifierType>
      <premis:linkingAgentIdentifierValue>scanner-7</premis:linkingAgentIdentifierValue>
    </premis:linkingAgentIdentifier>
    <premis:linkingObjectIdentifier>
      <premis:linkingObjectIdentifierType>local</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>scan-1</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>
    <premis:linkingObjectIdentifier>
      <premis:linkingObjectIdentifierType>local</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>notes-1</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>
  </premis:event>
  <premis:event>
    <premis:eventIdentifier>
      <premis:eventIdentifierType>local</premis:eventIdentifierType>
      <premis:eventIdentifierValue>EVT-2</premis:eventIdentifierValue>
    </premis:eventIdentifier>
    <premis:eventType>validation</premis:eventType>
    <premis:eventDateTime>2019-05-05</premis:eventDateTime>
    <premis:linkingAgentIdentifier>
      <premis:linkingAgentIdentifierType>local</premis:linkingAgentIdentifierType>
      <premis:linkingAgentIdentifierValue>ann</premis:linkingAgentIdentifierValue>
    </premis:linkingAgentIdentifier>
  </premis:event>
  <premis:agent>
    <premis:agentIdentifier>
      <premis:agentIdentifierType>local</premis:agentIdentifierType>
      <premis:agentIdentifierValue>scanner-7</premis:agentIdentifierValue>
    </premis:agentIdentifier>
    <premis:agentName>Book scanner 7</premis:agentName>
    <premis:agentType>hardware</premis:agentType>
  </premis:agent>
  <premis:agent>
    <premis:agentIdentifier>
      <premis:agentIdentifierType>local</premis:agentIdentifierType>
      <premis:agentIdentifierValue>ann</premis:agentIdentifierValue>
    </premis:agentIdentifier>
    <premis:agentName>Ann Archivist</premis:agentName>
    <premis:agentType>person</premis:agentType>
  </premis:agent>
</premis:premis>
"""


def _events(aip, path: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        e.findtext("premis:eventType", namespaces=NS): e
        for e in aip.amd_sec(path).iterfind(".//premis:event", NS)
    }


def test_premis_xml_events_and_agents_reach_the_aip_mets(custos_home: Path, tmp_path: Path) -> None:
    event_uuid = str(uuid4())  # not used yet, so kept (the session's database is shared)
    src = make_source(
        tmp_path / "premisxml",
        {
            "objects/scan.txt": "scan\n",
            "objects/notes.txt": "notes\n",
            "metadata/premis.xml": PREMIS.replace(EVENT_UUID, event_uuid),
        },
    )
    aip = run_to_aip(src, tmp_path, "premisxml")
    assert job(aip.transfer_uuid, "Load PREMIS events from metadata/premis.xml").output == (
        "premis.xml: 2 events recorded on 3 files"
    )
    scan = _events(aip, "objects/scan.txt")
    capture = scan["capture"]
    assert capture.findtext("premis:eventDateTime", namespaces=NS) == "2019-05-04T10:11:12+00:00"
    assert capture.findtext(".//premis:eventDetail", namespaces=NS) == "Scanned at 600 dpi"
    assert capture.findtext(".//premis:eventOutcome", namespaces=NS) == "success"
    assert capture.findtext(".//premis:eventOutcomeDetailNote", namespaces=NS) == "operator checked"
    assert [v.text for v in capture.iterfind(".//premis:linkingAgentIdentifierValue", NS)] == [
        "scanner-7"
    ]
    assert "validation" in scan  # linked from the object's side
    agents = {
        a.findtext(".//premis:agentIdentifierValue", namespaces=NS): a.findtext(
            "premis:agentName", namespaces=NS
        )
        for a in aip.amd_sec("objects/scan.txt").iterfind(".//premis:agent", NS)
    }
    assert agents["scanner-7"] == "Book scanner 7" and agents["ann"] == "Ann Archivist"
    notes = _events(aip, "objects/notes.txt")
    assert "capture" in notes and "validation" not in notes
    ids = {
        scan["capture"].findtext(".//premis:eventIdentifierValue", namespaces=NS),
        notes["capture"].findtext(".//premis:eventIdentifierValue", namespaces=NS),
    }
    # One event row per file: the first (notes.txt) keeps the document's UUID.
    assert notes["capture"].findtext(".//premis:eventIdentifierValue", namespaces=NS) == event_uuid
    assert len(ids) == 2

    entry = aip.mets.get_file(file_uuid=aip.file_uuid("objects/scan.txt"))
    assert {"capture", "validation"} <= {e.event_type for e in entry.get_premis_events()}
    assert "Book scanner 7" in {a.agent_name for a in entry.get_premis_agents()}


def test_premis_xml_naming_a_missing_file_fails_its_job(custos_home: Path, tmp_path: Path) -> None:
    src = make_source(
        tmp_path / "premisbad",
        {
            "objects/notes.txt": "notes\n",
            "metadata/premis.xml": PREMIS.replace("objects/scan.txt", "objects/gone.txt"),
        },
    )
    uuid = run_transfer_inline(src, "premisbad")
    failed = failed_at(uuid, "Load PREMIS events from metadata/premis.xml")
    assert "originalName 'objects/gone.txt' is not a file of the transfer" in (failed.output or "")


def test_premis_xml_that_is_not_valid_premis_fails(custos_home: Path, tmp_path: Path) -> None:
    src = make_source(
        tmp_path / "premisinvalid",
        {
            "objects/notes.txt": "notes\n",
            "metadata/premis.xml": PREMIS.replace(
                "<premis:eventType>capture</premis:eventType>", ""
            ),
        },
    )
    uuid = run_transfer_inline(src, "premisinvalid")
    failed = failed_at(uuid, "Load PREMIS events from metadata/premis.xml")
    assert "does not validate against PREMIS 3" in (failed.output or "")
