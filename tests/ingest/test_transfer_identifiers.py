"""``metadata/identifiers.json``: each identifier an objectIdentifier of what it names."""

from __future__ import annotations

import json
from pathlib import Path

from .transfer_metadata_support import (
    NS,
    failed_at,
    job,
    make_source,
    run_to_aip,
    run_transfer_inline,
    unit,
)

IDENTIFIERS = [
    {
        "file": "objects/letters/a.txt",
        "identifiers": [
            {"identifier": "https://hdl.handle.net/20.500.1/A", "identiferType": "URI"},
            {"identifier": "01HBX0W5M3S0V2Y7Q8K9T4R6PZ", "identiferType": "ULID"},
        ],
    },
    {
        "file": "letters",  # Archivematica reads it inside objects/
        "identifiers": [{"identifier": "https://example.org/letters", "identifierType": "URI"}],
    },
    {"file": "objects", "identifiers": [{"identifier": "EX-42", "identiferType": "EXID"}]},
]


def _ids(obj) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        (
            i.findtext("premis:objectIdentifierType", namespaces=NS) or "",
            i.findtext("premis:objectIdentifierValue", namespaces=NS) or "",
        )
        for i in obj.iterfind("premis:objectIdentifier", NS)
    ]


def test_identifiers_json_adds_object_identifiers_to_files_directories_and_the_aip(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "ids",
        {
            "objects/letters/a.txt": "a\n",
            "objects/letters/b.txt": "b\n",
            "metadata/identifiers.json": json.dumps(IDENTIFIERS),
        },
    )
    aip = run_to_aip(src, tmp_path, "ids")
    assert job(aip.sip_uuid, "Load persistent identifiers from external file").output == (
        "4 identifiers: 1 files, 1 directories, the AIP"
    )
    uuid = aip.file_uuid("objects/letters/a.txt")
    obj = aip.amd_sec("objects/letters/a.txt").find(".//premis:object", NS)
    assert _ids(obj) == [
        ("UUID", uuid),
        ("URI", "https://hdl.handle.net/20.500.1/A"),
        ("ULID", "01HBX0W5M3S0V2Y7Q8K9T4R6PZ"),
    ]
    other = aip.amd_sec("objects/letters/b.txt").find(".//premis:object", NS)
    assert [t for t, _ in _ids(other)] == ["UUID"]

    physical = aip.tree.find(".//mets:structMap[@TYPE='physical']", NS)
    root_div = physical.find("mets:div", NS)
    entity = aip.tree.find(f".//mets:dmdSec[@ID='{root_div.get('DMDID')}']//premis:object", NS)
    assert _ids(entity) == [("UUID", aip.sip_uuid), ("EXID", "EX-42")]
    letters = root_div.find("mets:div[@LABEL='objects']/mets:div[@LABEL='letters']", NS)
    dmd = aip.tree.find(f".//mets:dmdSec[@ID='{letters.get('DMDID').split()[0]}']", NS)
    dir_entity = dmd.find(".//premis:object", NS)
    assert dir_entity.get("{http://www.w3.org/2001/XMLSchema-instance}type") == (
        "premis:intellectualEntity"
    )
    assert _ids(dir_entity)[1:] == [("URI", "https://example.org/letters")]
    assert dir_entity.findtext("premis:originalName", namespaces=NS) == (
        "%transferDirectory%objects/letters/"
    )

    # metsrw reads the file's identifiers back from its PREMIS object.
    entry = aip.mets.get_file(file_uuid=uuid)
    premis_obj = entry.get_premis_objects()[0]
    assert ("URI", "https://hdl.handle.net/20.500.1/A") in [
        (i.object_identifier_type, i.object_identifier_value)
        for i in premis_obj.findall("object_identifier")
    ]


def test_identifiers_json_naming_a_missing_file_fails_the_sip(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "idsbad",
        {
            "objects/a.txt": "a\n",
            "metadata/identifiers.json": json.dumps(
                [
                    {
                        "file": "objects/nope.txt",
                        "identifiers": [{"identifier": "x", "identiferType": "URI"}],
                    }
                ]
            ),
        },
    )
    transfer = run_transfer_inline(src, "idsbad")
    sip = unit(transfer).sip_uuid
    assert sip
    failed = failed_at(sip, "Load persistent identifiers from external file")
    assert "record 1: objects/nope.txt" in (failed.output or "")
