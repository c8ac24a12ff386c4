"""metadata.csv and rights.csv loading, good and bad rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from custos.errors import InvalidInput
from tasks.metadata_csv import load_metadata_csv, load_rights_csv


def _write(tmp_path: Path, name: str, text: str, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_metadata_csv_repeated_columns_and_custom(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "metadata.csv",
        "Filename,dc.title,dc.subject,dc.subject,dc.creator,Accession\r\n"
        "objects,Whole transfer,,,,A-1\r\n"
        'objects/Été photos/a b.jpg,"Beach, 1999",sand,sea,Zoë,\r\n'
        "\r\n"
        "objects/dir/,A folder,,,,\r\n",
        bom=True,
    )
    rows = load_metadata_csv(path)
    assert [r.filename for r in rows] == ["objects", "objects/Été photos/a b.jpg", "objects/dir/"]
    top, photo, folder = rows
    assert top.is_objects_level and top.custom == {"Accession": ["A-1"]}
    assert photo.dc == {"title": ["Beach, 1999"], "subject": ["sand", "sea"], "creator": ["Zoë"]}
    assert photo.line == 3 and folder.line == 5 and folder.dc == {"title": ["A folder"]}


def test_metadata_csv_bad_rows_all_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "metadata.csv",
        "filename,dc.title,dc.colour\n"
        "objects/a.txt,A,red\n"
        "/etc/passwd,B,\n"
        "objects/../../x,C,\n"
        "a.txt,D,\n"
        "objects/a.txt,again,\n"
        ",E,\n"
        "objects/b.txt,F,x,extra\n",
    )
    with pytest.raises(InvalidInput) as err:
        load_metadata_csv(path)
    details = err.value.details
    assert [(d["line"], d["column"]) for d in details] == [
        (1, 3),
        (3, 1),
        (4, 1),
        (5, 1),
        (6, 1),
        (7, 1),
        (8, 4),
    ]
    assert "unknown Dublin Core element 'dc.colour'" in details[0]["error"]
    assert "already described on line 2" in details[4]["error"]


def test_metadata_csv_structural_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no 'filename' column"):
        load_metadata_csv(_write(tmp_path, "m1.csv", "dc.title\nX\n"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        (tmp_path / "m2.csv").write_bytes(b"filename,dc.title\nobjects/a,caf\xe9\n")
        load_metadata_csv(tmp_path / "m2.csv")
    with pytest.raises(InvalidInput, match="empty"):
        load_metadata_csv(_write(tmp_path, "m3.csv", ""))


RIGHTS_HEADER = (
    "file,basis,status,determination_date,jurisdiction,start_date,end_date,note,"
    "grant_act,grant_restriction,grant_start_date,grant_end_date,grant_note,"
    "doc_id_type,doc_id_value,doc_id_role\n"
)


def test_rights_csv(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rights.csv",
        RIGHTS_HEADER + "objects/a.jpg,Copyright,copyrighted,2011-01-01,ca,2011-01-01,OPEN,note,"
        "disseminate,Disallow,2011-01-01,2031-12-31,gnote,Copyright ID,ID-1,role\n"
        "objects/a.jpg,license,,,,,,,,allow,,,,,,\n",
    )
    first, second = load_rights_csv(path)
    assert first.basis == "copyright" and first.start_date == dt.date(2011, 1, 1)
    assert first.end_date is None and first.end_open
    assert first.grant_restriction == "Disallow" and first.grant_end_date == dt.date(2031, 12, 31)
    assert first.doc_id_value == "ID-1" and first.line == 2
    assert second.basis == "license" and second.grant_restriction == "Allow"
    assert second.start_date is None and not second.end_open


@pytest.mark.parametrize("code", ["ca", "US", "gb-sct", "CA-QC"])
def test_rights_csv_jurisdiction_is_an_iso_3166_code(tmp_path: Path, code: str) -> None:
    path = _write(
        tmp_path, "rights.csv", f"file,basis,jurisdiction\nobjects/a.jpg,statute,{code}\n"
    )
    (row,) = load_rights_csv(path)
    assert row.jurisdiction == code


@pytest.mark.parametrize("code", ["Canada", "xx", "c", "ca-toolong"])
def test_rights_csv_jurisdiction_not_in_iso_3166_is_refused(tmp_path: Path, code: str) -> None:
    path = _write(
        tmp_path, "rights.csv", f"file,basis,jurisdiction\nobjects/a.jpg,copyright,{code}\n"
    )
    with pytest.raises(InvalidInput, match=r"line 2, column 3: jurisdiction .* ISO 3166"):
        load_rights_csv(path)


def test_rights_csv_errors(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "rights.csv",
        RIGHTS_HEADER + "objects/a.jpg,magic,,2011-13-01,,,,,,,,,,,,\n"
        "objects/b.jpg,donor,,,,,,,,maybe,,,,,,\n"
        "objects/c.jpg,copyright,copyrighted,,Canada,,,,,,,,,,,\n",
    )
    with pytest.raises(InvalidInput) as err:
        load_rights_csv(path)
    errors = [(d["line"], d["error"].split(" ")[0]) for d in err.value.details]
    assert errors == [
        (2, "basis"),
        (2, "determination_date"),
        (3, "grant_restriction"),
        (4, "jurisdiction"),
    ]
    (bad_place,) = [d for d in err.value.details if d["line"] == 4]
    assert bad_place["column"] == 5 and "'Canada' is not an ISO 3166 code" in bad_place["error"]
    with pytest.raises(InvalidInput, match="bad header"):
        load_rights_csv(_write(tmp_path, "r2.csv", "file,colour\nobjects/a,red\n"))
