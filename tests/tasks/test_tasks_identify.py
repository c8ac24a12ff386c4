"""Siegfried identification of real files made at test time."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from tasks.tools.siegfried import identify_file, identify_files


def test_expected_puids(make, tmp_path: Path) -> None:
    zpath = make.path("bundle.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.txt", "hello\n")
    files = [
        make.pdf(),
        make.png(),
        make.jpeg(),
        make.tiff(),
        make.bytes("notes.txt", b"Plain ASCII text\nsecond line\n"),
        zpath,
    ]
    report = identify_files(files)
    puids = [r.puid for r in report.results]
    assert puids == ["fmt/18", "fmt/11", "fmt/43", "fmt/353", "x-fmt/111", "x-fmt/263"]
    pdf = report.results[0]
    assert pdf.format_name == "Acrobat PDF 1.4 - Portable Document Format"
    assert pdf.format_version == "1.4" and pdf.mime == "application/pdf"
    assert pdf.premis_outcome == "Positive" and pdf.note == "fmt/18"
    assert "byte match" in pdf.best.basis  # type: ignore[union-attr]
    assert report.event_detail == f'program="Siegfried"; version="{report.tool_version}"'
    assert "DROID_SignatureFile" in report.signatures


def test_empty_missing_and_mismatched_extension(make) -> None:
    empty = make.bytes("empty", b"")
    wrong = make.png("actually_png.pdf")
    report = identify_files([empty, make.root / "missing.txt", wrong])
    e, missing, mismatch = report.results
    assert e.puid is None and e.premis_outcome == "Not identified" and e.error == "empty source"
    assert missing.puid is None and missing.error and "no such file" in missing.error
    assert mismatch.puid == "fmt/11"
    assert mismatch.warning and "extension mismatch" in mismatch.warning


def test_non_utf8_name_and_archivematica_profile(make) -> None:
    make.root.mkdir(parents=True, exist_ok=True)
    raw = os.fsencode(make.root) + b"/r\xe9sum\xe9.txt"
    with open(raw, "wb") as fh:
        fh.write(b"just some text\n")
    item = identify_file(os.fsdecode(raw), profile="archivematica")
    assert item.puid == "x-fmt/111"
    assert item.path == Path(os.fsdecode(raw))
