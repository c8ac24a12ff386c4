"""``metadata/mets_structmap.xml``: a second, logical structMap over the AIP's files."""

from __future__ import annotations

from pathlib import Path

from .transfer_metadata_support import (
    NS,
    failed_at,
    job,
    make_source,
    run_to_aip,
    run_transfer_inline,
)

STRUCTMAP = """<?xml version="1.0" encoding="utf-8"?>
<mets:mets xmlns:mets="http://www.loc.gov/METS/">
  <mets:structMap TYPE="logical" LABEL="Book">
    <mets:div TYPE="book" LABEL="How to bind a book">
      <mets:div TYPE="page" LABEL="Cover">
        <mets:fptr FILEID="cover" CONTENTIDS="objects/cover page.txt"/>
      </mets:div>
      <mets:div TYPE="chapter" LABEL="Chapter 1">
        <mets:div TYPE="page" LABEL="Page 1">
          <mets:fptr FILEID="p1" CONTENTIDS="objects/chapter1/p1.txt">
            <mets:area FILEID="p1" CONTENTIDS="objects/chapter1/p1.txt" BEGIN="1" END="2"
                       BETYPE="BYTE"/>
          </mets:fptr>
        </mets:div>
      </mets:div>
    </mets:div>
  </mets:structMap>
</mets:mets>
"""


def test_mets_structmap_is_carried_with_pointers_to_the_aip_files(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "book",
        {
            "objects/cover page.txt": "cover\n",
            "objects/chapter1/p1.txt": "page one\n",
            "metadata/mets_structmap.xml": STRUCTMAP,
        },
    )
    aip = run_to_aip(src, tmp_path, "book")
    assert job(aip.transfer_uuid, "Verify mets_structmap.xml compliance").output == (
        "mets_structmap.xml is valid; it points at 2 files"
    )
    maps = aip.tree.findall("mets:structMap", NS)
    assert [(m.get("TYPE"), m.get("LABEL")) for m in maps] == [
        ("physical", "Archivematica default"),
        ("logical", "Normative Directory Structure"),
        ("logical", "Book"),
    ]
    book = maps[2]
    assert book.get("ID") == "structMap_3"
    file_ids = {f.get("ID") for f in aip.tree.iterfind(".//mets:fileSec//mets:file", NS)}
    pointers = {
        el.get("CONTENTIDS"): el.get("FILEID")
        for el in book.iter("{http://www.loc.gov/METS/}fptr", "{http://www.loc.gov/METS/}area")
    }
    p1 = f"file-{aip.file_uuid('objects/chapter1/p1.txt')}"
    assert pointers["objects/chapter1/p1.txt"] == p1
    # "cover page.txt" was renamed at transfer; the pointer follows the file.
    cover = pointers["objects/cover page.txt"]
    assert cover in file_ids and cover != p1
    assert len(book.findall(".//mets:area", NS)) == 1
    assert book.find(".//mets:div[@LABEL='Page 1']/mets:fptr/mets:area", NS).get("FILEID") == p1
    # metsrw still reads the AIP through its physical structMap.
    assert aip.mets.get_file(file_uuid=aip.file_uuid("objects/chapter1/p1.txt")) is not None


def test_mets_structmap_pointing_at_missing_files_fails_naming_them(
    custos_home: Path, tmp_path: Path
) -> None:
    src = make_source(
        tmp_path / "bookbad",
        {"objects/chapter1/p1.txt": "page one\n", "metadata/mets_structmap.xml": STRUCTMAP},
    )
    uuid = run_transfer_inline(src, "bookbad")
    failed = failed_at(uuid, "Verify mets_structmap.xml compliance")
    assert "points at files that are not in the transfer: objects/cover page.txt" in (
        failed.output or ""
    )


def test_mets_structmap_that_is_not_valid_mets_fails(custos_home: Path, tmp_path: Path) -> None:
    src = make_source(
        tmp_path / "bookinvalid",
        {
            "objects/chapter1/p1.txt": "page one\n",
            "metadata/mets_structmap.xml": STRUCTMAP.replace(
                '<mets:div TYPE="book"', '<mets:dov TYPE="book"'
            ).replace("</mets:div>\n  </mets:structMap>", "</mets:dov>\n  </mets:structMap>"),
        },
    )
    uuid = run_transfer_inline(src, "bookinvalid")
    failed = failed_at(uuid, "Verify mets_structmap.xml compliance")
    assert "does not validate against mets.xsd" in (failed.output or "")
