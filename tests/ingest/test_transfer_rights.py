"""``metadata/rights.csv`` as Archivematica documents it, through the real flows.

Archivematica's sample transfers carry the full header (with ``terms`` and
``citation``); every column must reach the PREMIS rightsStatement of the AIP METS,
*Load rights* must say what it loaded, and a bad file must fail the transfer at
*Load rights* with its line and column.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custos.models import UnitStatus

from .transfer_metadata_support import (
    NS,
    failed_at,
    job,
    make_source,
    run_to_aip,
    run_transfer_inline,
    unit,
)

HEADER = (
    "file,basis,status,determination_date,jurisdiction,start_date,end_date,terms,citation,"
    "note,grant_act,grant_restriction,grant_start_date,grant_end_date,grant_note,"
    "doc_id_type,doc_id_value,doc_id_role\n"
)
ROWS = (
    "objects/letter.txt,copyright,copyrighted,2011-01-01,ca,2011-01-01,OPEN,,,"
    "Copyright expires 2061,disseminate,disallow,2011-01-01,2061-01-01,Embargoed,"
    "Copyright ID,CR-1,Copyright role\n"
    "objects/letter.txt,license,,,,2012-02-02,2032-02-02,CC BY 4.0,,Licence note,"
    "publish,allow,2012-02-02,OPEN,Publish freely,License ID,LIC-7,Deed\n"
    "objects/letter.txt,statute,,2013-03-03,us,2013-03-03,,,17 U.S.C. 107,Fair use,"
    "use,conditional,2013-03-03,,Teaching only,Statute ID,ST-3,Statute role\n"
    "objects/photos/pic.txt,donor,,,,,,,,Donor says so,replicate,allow,,,,,,\n"
)


def _statement(amd, basis: str):  # type: ignore[no-untyped-def]
    for st in amd.iterfind(".//premis:rightsStatement", NS):
        if st.findtext("premis:rightsBasis", namespaces=NS) == basis:
            return st
    raise AssertionError(f"no {basis} statement")


def _text(el, path: str) -> str | None:  # type: ignore[no-untyped-def]
    return el.findtext(path, namespaces=NS)


def test_every_rights_csv_column_reaches_the_premis_rights_statement(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "rights",
        {
            "objects/letter.txt": "Dear archivist,\n",
            "objects/photos/pic.txt": "a picture\n",
            "metadata/rights.csv": HEADER + ROWS,
        },
    )
    aip = run_to_aip(src, tmp_path, "rights")
    loaded = job(aip.transfer_uuid, "Load rights")
    assert loaded.output == "rights.csv: 4 rows: 4 rights statements on 2 files"

    letter = aip.amd_sec("objects/letter.txt")
    assert len(letter.findall("mets:rightsMD", NS)) == 3
    cr = _statement(letter, "Copyright")
    info = cr.find("premis:copyrightInformation", NS)
    assert _text(info, "premis:copyrightStatus") == "copyrighted"
    assert _text(info, "premis:copyrightJurisdiction") == "ca"
    assert _text(info, "premis:copyrightStatusDeterminationDate") == "2011-01-01"
    assert _text(info, "premis:copyrightNote") == "Copyright expires 2061"
    doc = info.find("premis:copyrightDocumentationIdentifier", NS)
    assert [c.text for c in doc] == ["Copyright ID", "CR-1", "Copyright role"]
    assert _text(info, "premis:copyrightApplicableDates/premis:startDate") == "2011-01-01"
    assert _text(info, "premis:copyrightApplicableDates/premis:endDate") == "OPEN"
    grant = cr.find("premis:rightsGranted", NS)
    assert _text(grant, "premis:act") == "disseminate"
    assert _text(grant, "premis:restriction") == "Disallow"
    assert _text(grant, "premis:termOfRestriction/premis:endDate") == "2061-01-01"
    assert _text(grant, "premis:rightsGrantedNote") == "Embargoed"
    uuid = aip.file_uuid("objects/letter.txt")
    assert _text(cr, "premis:linkingObjectIdentifier/premis:linkingObjectIdentifierValue") == uuid

    lic = _statement(letter, "License").find("premis:licenseInformation", NS)
    assert _text(lic, "premis:licenseTerms") == "CC BY 4.0"
    assert _text(lic, "premis:licenseNote") == "Licence note"
    assert (
        _text(lic, "premis:licenseDocumentationIdentifier/premis:licenseDocumentationRole")
        == "Deed"
    )
    assert _text(lic, "premis:licenseApplicableDates/premis:endDate") == "2032-02-02"
    lgrant = _statement(letter, "License").find("premis:rightsGranted", NS)
    assert _text(lgrant, "premis:termOfGrant/premis:endDate") == "OPEN"

    st = _statement(letter, "Statute").find("premis:statuteInformation", NS)
    assert _text(st, "premis:statuteCitation") == "17 U.S.C. 107"
    assert _text(st, "premis:statuteJurisdiction") == "us"
    assert _text(st, "premis:statuteInformationDeterminationDate") == "2013-03-03"
    assert _text(st, "premis:statuteNote") == "Fair use"
    assert (
        _text(
            st, "premis:statuteDocumentationIdentifier/premis:statuteDocumentationIdentifierValue"
        )
        == "ST-3"
    )

    pic = aip.amd_sec("objects/photos/pic.txt")
    other = _statement(pic, "Other").find("premis:otherRightsInformation", NS)
    assert _text(other, "premis:otherRightsBasis") == "Donor"
    assert _text(other, "premis:otherRightsNote") == "Donor says so"

    # metsrw reads the same statements back.
    entry = aip.mets.get_file(file_uuid=uuid)
    assert entry is not None and len(entry.get_premis_rights()) == 3


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (
            HEADER + "objects/letter.txt,copyright,,2011-13-01,,,,,,,,,,,,,,\n",
            "rights.csv: line 2, column 4: determination_date '2011-13-01' is not a "
            "YYYY-MM-DD date",
        ),
        (
            HEADER + "objects/letter.txt,license,,,,,,CC0,,,,,,,,,,\n"
            "objects/missing.txt,license,,,,,,CC0,,,,,,,,,,\n",
            "rights.csv line 3, column 1: objects/missing.txt is not an original file",
        ),
        (
            "file,basis,colour\nobjects/letter.txt,license,red\n",
            "line 1, column 3: unknown column 'colour'",
        ),
    ],
)
def test_a_bad_rights_csv_fails_the_transfer_at_load_rights(
    custos_home: Path, tmp_path: Path, csv: str, message: str
) -> None:
    src = make_source(
        tmp_path / "badrights",
        {"objects/letter.txt": "Dear archivist,\n", "metadata/rights.csv": csv},
    )
    uuid = run_transfer_inline(src, "badrights")
    failed = failed_at(uuid, "Load rights")
    assert message in (failed.output or "")
    assert unit(uuid).sip_uuid is None
    assert unit(uuid).status == UnitStatus.FAILED
