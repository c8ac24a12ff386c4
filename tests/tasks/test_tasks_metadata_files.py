"""The parsers of a transfer's supplied metadata files, alone: edge cases and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custos.errors import InvalidInput
from tasks.metadata_identifiers import load_identifiers_json
from tasks.metadata_json import load_metadata_json
from tasks.metadata_labels import load_file_labels
from tasks.metadata_premis import load_premis_events
from tasks.metadata_structmap import check_structmap

from ..ingest.test_transfer_premis_events import PREMIS


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_metadata_json_lists_become_repeated_columns_and_parts_is_filename(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        "metadata.json",
        json.dumps(
            [
                {"parts": "objects/d", "dc.subject": ["a", "b", None], "flag": True},
                {"filename": "objects/d/x.txt", "dc.subject": "c", "Extent": 2.5},
            ]
        ),
    )
    first, second = load_metadata_json(path)
    assert (first.filename, first.line, first.dc, first.custom) == (
        "objects/d",
        1,
        {"subject": ["a", "b"]},
        {"flag": ["true"]},
    )
    assert (second.dc, second.custom) == ({"subject": ["c"]}, {"Extent": ["2.5"]})


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"filename": "objects/a", "dc.title": {"x": 1}}], "record 1: dc.title: nested value"),
        ([{"dc.title": "T"}], "record 1: no 'filename'"),
        ([{"filename": "../etc"}], "record 1: filename must be a relative path"),
        ([{"filename": "objects/a", "dc.colour": "red"}], "unknown Dublin Core element"),
        (
            [{"filename": "objects/a"}, {"filename": "objects/a/"}],
            "record 2: objects/a/ already described",
        ),
    ],
)
def test_metadata_json_problems_name_the_record(
    tmp_path: Path, records: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_metadata_json(_write(tmp_path, "metadata.json", json.dumps(records)))


def test_identifiers_json_reads_archivematica_spelling_and_merges_a_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "identifiers.json",
        json.dumps(
            [
                {"file": "a.txt", "identifiers": [{"identifier": "u1", "identiferType": "URI"}]},
                {
                    "file": "objects/a.txt",
                    "identifiers": [{"identifier": 7, "identifierType": "local"}],
                },
            ]
        ),
    )
    (entry,) = load_identifiers_json(path)
    assert entry.path == "objects/a.txt"
    assert entry.identifiers == (("URI", "u1"), ("local", "7"))


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"file": "../x", "identifiers": []}], "must be a path inside objects/"),
        ([{"file": "a.txt", "identifiers": [{"identifier": "x"}]}], "needs 'identifier'"),
        (
            [{"file": "a.txt", "identifiers": [{"identifier": "x", "identiferType": "UUID"}]}],
            "the UUID identifier is Custos' own",
        ),
    ],
)
def test_identifiers_json_problems(
    tmp_path: Path, records: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_identifiers_json(_write(tmp_path, "identifiers.json", json.dumps(records)))


def test_file_labels_header_and_objects_prefix(tmp_path: Path) -> None:
    path = _write(tmp_path, "file_labels.csv", "filename,label\nobjects/a.txt,A\nb.txt,B\n")
    assert load_file_labels(path, ["objects/a.txt", "objects/b.txt"]) == {
        "objects/a.txt": "A",
        "objects/b.txt": "B",
    }
    with pytest.raises(InvalidInput, match="line 1: needs a path and a label"):
        load_file_labels(_write(tmp_path, "l2.csv", "a.txt\n"), ["objects/a.txt"])


XXE = '<!DOCTYPE p [<!ENTITY secret SYSTEM "file://{path}">]>\n'


def test_premis_xml_with_entities_is_refused_unread(tmp_path: Path) -> None:
    secret = _write(tmp_path, "secret.txt", "TOP-SECRET")
    doc = PREMIS.replace("\n<premis:premis", "\n" + XXE.format(path=secret) + "<premis:premis", 1)
    doc = doc.replace("Scanned at 600 dpi", "&secret;")
    path = _write(tmp_path, "premis.xml", doc)
    with pytest.raises(InvalidInput, match="DOCTYPE") as err:
        load_premis_events(path, {"objects/scan.txt", "objects/notes.txt"})
    assert "TOP-SECRET" not in str(err.value)


def test_structmap_with_entities_is_refused_and_paths_stay_inside(tmp_path: Path) -> None:
    secret = _write(tmp_path, "secret.txt", "objects/a.txt")
    doc = (
        '<?xml version="1.0"?>\n'
        + XXE.format(path=secret)
        + '<mets:mets xmlns:mets="http://www.loc.gov/METS/"><mets:structMap TYPE="logical">'
        '<mets:div><mets:fptr FILEID="a" CONTENTIDS="&secret;"/></mets:div>'
        "</mets:structMap></mets:mets>"
    )
    with pytest.raises(InvalidInput, match="DOCTYPE|external entity"):
        check_structmap(_write(tmp_path, "mets_structmap.xml", doc), lambda _: True)
    escape = _write(
        tmp_path,
        "s2.xml",
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/"><mets:structMap TYPE="logical">'
        '<mets:div><mets:fptr FILEID="a" CONTENTIDS="objects/../../etc/passwd"/></mets:div>'
        "</mets:structMap></mets:mets>",
    )
    with pytest.raises(InvalidInput, match="is not a path inside objects/"):
        check_structmap(escape, lambda _: True)
