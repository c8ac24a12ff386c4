"""A small Dataverse dataset export (``dataset.json``) with one plain file, one file
in a ``directoryLabel`` folder and one tabular bundle, and its files on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_dataset_files(root: Path) -> None:
    """The dataset's files as Dataverse delivers them (the bundle in its folder)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "survey.csv").write_text("q,a\n1,yes\n")
    (root / "read me.txt").write_text("About the survey\n")  # renamed read_me.txt
    bundle = root / "answers"
    bundle.mkdir(exist_ok=True)
    (bundle / "answers.dta").write_bytes(b"Stata binary answers\n")
    (bundle / "answers.tab").write_text("q\ta\n1\tyes\n")
    (bundle / "answers.RData").write_bytes(b"RDX2 answers\n")
    (bundle / "answers-ddi.xml").write_text("<codeBook/>\n")
    (bundle / "answerscitation-endnote.xml").write_text("<xml/>\n")
    (bundle / "answerscitation-ris.ris").write_text("TY  - DATA\n")
    (bundle / "answerscitation-bib.bib").write_text("@data{answers}\n")


def dataset_json(root: Path) -> dict[str, Any]:
    """dataset.json for the files :func:`write_dataset_files` wrote under ``root``."""
    return {
        "id": 42,
        "protocol": "doi",
        "persistentUrl": "https://doi.org/10.5072/FK2/ABCDEF",
        "publisher": "Example Dataverse",
        "datasetVersion": {
            "versionNumber": 1,
            "versionMinorNumber": 0,
            "versionState": "RELEASED",
            "releaseTime": "2024-03-01T10:00:00Z",
            "termsOfUse": "CC0 Waiver",
            "metadataBlocks": {
                "citation": {
                    "fields": [
                        {"typeName": "title", "value": "A small survey"},
                        {
                            "typeName": "author",
                            "value": [
                                {"authorName": {"value": "Doe, Jane"}},
                                {"authorName": {"value": "Roe, Richard"}},
                            ],
                        },
                        {"typeName": "subject", "value": ["Social Sciences"]},
                    ]
                }
            },
            "files": [
                {
                    "label": "survey.csv",
                    "directoryLabel": "data",
                    "dataFile": {
                        "filename": "survey.csv",
                        "checksum": {"type": "MD5", "value": _md5(root / "data" / "survey.csv")},
                    },
                },
                {
                    "label": "read me.txt",
                    "dataFile": {"filename": "read me.txt", "md5": _md5(root / "read me.txt")},
                },
                {
                    "label": "answers.tab",
                    "dataFile": {
                        "filename": "answers.tab",
                        "originalFileFormat": "application/x-stata",
                        "originalFormatLabel": "Stata Binary",
                        "md5": _md5(root / "answers" / "answers.dta"),
                    },
                },
            ],
        },
    }
