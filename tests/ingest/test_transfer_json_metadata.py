"""``metadata/metadata.json`` (Archivematica's JSON metadata import) into dmdSecs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custos.errors import InvalidInput
from flows.ingest import ingest

from .conftest import AUTOMATED, SipFactory, make_png
from .transfer_metadata_support import (
    NS,
    failed_at,
    job,
    make_source,
    run_to_aip,
    run_transfer_inline,
)

RECORDS = [
    {"filename": "objects", "dc.title": "The whole deposit", "dc.creator": "Ann Archivist"},
    {
        "filename": "objects/letters",
        "dc.title": "Letters",
        "dc.subject": ["Correspondence", "Family"],
    },
    {
        "filename": "objects/letters/first letter.txt",
        "dc.title": "First letter",
        "dc.date": 1921,
        "Box number": "3",
        "dc.rights": None,
    },
]


def _dmd_titles(aip, dmdids: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for dmdid in dmdids.split():
        sec = aip.tree.find(f".//mets:dmdSec[@ID='{dmdid}']", NS)
        out += [t.text for t in sec.iterfind(".//dc:title", NS)]
    return out


def test_metadata_json_becomes_dublin_core_and_custom_dmdsecs(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "jsonmd",
        {
            "objects/letters/first letter.txt": "Dear Ann,\n",
            "objects/letters/second.txt": "Dear Bob,\n",
            "metadata/metadata.json": json.dumps(RECORDS),
        },
    )
    aip = run_to_aip(src, tmp_path, "jsonmd")
    assert job(aip.transfer_uuid, "Process transfer JSON metadata").output == (
        "metadata.json: 3 records"
    )
    assert job(aip.sip_uuid, "Process JSON metadata").output == "3 records in 1 metadata.json"
    physical = aip.tree.find(".//mets:structMap[@TYPE='physical']", NS)
    objects = physical.find("mets:div/mets:div[@LABEL='objects']", NS)
    assert _dmd_titles(aip, objects.get("DMDID")) == ["The whole deposit"]
    letters = objects.find("mets:div[@LABEL='letters']", NS)
    assert _dmd_titles(aip, letters.get("DMDID")) == ["Letters"]
    subjects = [
        s.text
        for d in letters.get("DMDID").split()
        for s in aip.tree.find(f".//mets:dmdSec[@ID='{d}']", NS).iterfind(".//dc:subject", NS)
    ]
    assert subjects == ["Correspondence", "Family"]

    # The file was renamed by *Change object and directory filenames*; its metadata follows.
    item = next(
        d for d in letters.iterfind("mets:div[@TYPE='Item']", NS) if d.get("LABEL") != "second.txt"
    )
    ids = item.get("DMDID").split()
    assert _dmd_titles(aip, " ".join(ids)) == ["First letter"]
    dc = aip.tree.find(f".//mets:dmdSec[@ID='{ids[0]}']", NS)
    assert dc.find("mets:mdWrap", NS).get("MDTYPE") == "DC"
    assert dc.findtext(".//dc:date", namespaces=NS) == "1921"
    assert dc.find(".//dc:rights", NS) is None  # null: no value
    custom = aip.tree.find(f".//mets:dmdSec[@ID='{ids[1]}']/mets:mdWrap", NS)
    assert (custom.get("MDTYPE"), custom.get("OTHERMDTYPE")) == ("OTHER", "CUSTOM")
    assert custom.findtext(".//Box_number", namespaces=NS) == "3"

    # metsrw sees the same descriptive metadata on the file.
    entry = next(e for e in aip.mets.all_files() if e.label == item.get("LABEL"))
    assert {d.contents.mdtype for d in entry.dmdsecs} == {"DC", "OTHER"}


def test_metadata_json_naming_a_missing_path_fails_its_job(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "jsonbad",
        {
            "objects/a.txt": "a\n",
            "metadata/metadata.json": json.dumps(
                [{"filename": "objects/a.txt", "dc.title": "A"}, {"filename": "objects/b.txt"}]
            ),
        },
    )
    uuid = run_transfer_inline(src, "jsonbad")
    failed = failed_at(uuid, "Process transfer JSON metadata")
    assert "record 2: objects/b.txt" in (failed.output or "")


def test_metadata_json_that_is_not_an_array_of_objects_fails(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "jsonshape",
        {"objects/a.txt": "a\n", "metadata/metadata.json": '{"filename": "objects/a.txt"}'},
    )
    uuid = run_transfer_inline(src, "jsonshape")
    failed = failed_at(uuid, "Process transfer JSON metadata")
    assert "must be a JSON array of objects" in (failed.output or "")


def test_metadata_json_added_during_ingest_is_checked_by_process_json_metadata(
    make_sip: SipFactory,
) -> None:
    """A metadata.json reaching the SIP's metadata during ingest (copy_metadata_files)
    is checked at *Process JSON metadata*, before the METS: a path the AIP lacks fails
    the SIP there, named."""
    uuid, _ = make_sip(
        {
            "objects/a.png": make_png,
            "objects/metadata/metadata.json": json.dumps(
                [{"filename": "objects/a.png", "dc.title": "A"}, {"filename": "objects/gone.png"}]
            ),
        },
        name="jsoningest",
        options=AUTOMATED | {"normalize": "none", "compression_algorithm": "uncompressed"},
    )
    with pytest.raises(InvalidInput, match="record 2: objects/gone.png"):
        ingest.fn(uuid)
    failed = failed_at(uuid, "Process JSON metadata")
    assert "metadata.json names paths that are not in the AIP" in (failed.output or "")
