"""Characterizing XML documents (a transfer's METS in the submission documentation):
ExifTool reads only their file facts, not every element as a tag."""

from __future__ import annotations

from pathlib import Path

from tasks.tools.characterize import characterize_files, is_xml


def test_xml_documents_get_file_facts_not_their_elements(tmp_path: Path) -> None:
    mets = tmp_path / "METS.xml"
    body = "".join(f'<file ID="f{i}"><FLocat href="objects/f{i}.txt"/></file>' for i in range(500))
    mets.write_text(f'<?xml version="1.0"?><mets xmlns="http://www.loc.gov/METS/">{body}</mets>')
    note = tmp_path / "note.txt"
    note.write_text("a plain note\n" * 10)

    xml_result, text_result = characterize_files([(mets, "application/xml"), (note, "text/plain")])

    (xml_out,) = xml_result.outputs
    assert xml_out.tool == "exiftool" and xml_out.outcome == "ok"
    assert "<File:FileType>XML</File:FileType>" in xml_out.xml
    assert "FLocat" not in xml_out.xml  # no element of the document became a tag
    assert len(xml_out.xml) < 3000
    (text_out,) = text_result.outputs
    assert text_out.outcome == "ok" and "LineCount" in text_out.xml  # read as before


def test_is_xml_knows_xml_media_types() -> None:
    assert is_xml("text/xml") and is_xml("application/xml") and is_xml("application/mets+xml")
    assert not is_xml("text/plain") and not is_xml(None) and not is_xml("image/svg")
