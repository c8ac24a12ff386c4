"""CSV validators of ``v2beta/validate/<name>``: Avalon manifests and PREMIS rights.

Same rules and messages as Archivematica's ``components/api/validators.py``;
malformed rows that made Archivematica crash are reported as invalid instead.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable


class ValidationError(Exception):
    """The document is not valid; the message says why."""


AVALON_HEADERS = [
    "Bibliographic ID",
    "Bibliographic ID Label",
    "Other Identifier",
    "Other Identifier Type",
    "Title",
    "Creator",
    "Contributor",
    "Genre",
    "Publisher",
    "Date Created",
    "Date Issued",
    "Abstract",
    "Language",
    "Physical Description",
    "Related Item URL",
    "Related Item Label",
    "Topical Subject",
    "Geographic Subject",
    "Temporal Subject",
    "Terms of Use",
    "Table of Contents",
    "Statement of Responsibility",
    "Note",
    "Note Type",
    "Publish",
    "Hidden",
    "File",
    "Label",
    "Offset",
    "Skip Transcoding",
    "Absolute Location",
    "Date Ingested",
]
AVALON_REQUIRED = ["Title", "Date Issued", "File"]
AVALON_UNIQUE = [
    "Bibliographic ID",
    "Bibliographic ID Label",
    "Title",
    "Date Created",
    "Date Issued",
    "Abstract",
    "Physical Description",
    "Terms of Use",
]
AVALON_PAIRS = {
    "Other Identifier Type": "Other Identifier",
    "Related Item Label": "Related Item URL",
    "Note Type": "Note",
}
QUALITY_MARKERS = (".high.", ".medium.", ".low")

RIGHTS_REQUIRED = ["file", "basis"]
RIGHTS_OPTIONAL = [
    "status",
    "determination_date",
    "start_date",
    "end_date",
    "jurisdiction",
    "terms",
    "citation",
    "note",
    "grant_act",
    "grant_restriction",
    "grant_start_date",
    "grant_end_date",
    "grant_note",
    "doc_id_type",
    "doc_id_value",
    "doc_id_role",
]


def _rows(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("The document is not UTF-8 text.") from exc
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ValidationError(f"The document is not valid CSV: {exc}") from exc


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def validate_avalon(data: bytes) -> None:
    """An Avalon Media System import manifest."""
    rows = _rows(data)
    if not rows:
        raise ValidationError("The document is empty.")
    admin = rows[0]
    if len(admin) < 2 or not (admin[0] and admin[1]):
        raise ValidationError("Administrative data must include reference name and author.")
    if len(rows) < 2:
        raise ValidationError("The document is incomplete.")
    header = rows[1]
    repeated = [k for k, v in Counter(header).items() if v > 1]
    fields = [h for h in header if h != ""]
    for field in fields:
        if field[0] == " " or field[-1] == " ":
            raise ValidationError(
                f"Header fields cannot have leading or trailing blanks. Invalid field: {field}"
            )
    invalid = sorted(set(fields) - set(AVALON_HEADERS))
    if invalid:
        raise ValidationError(
            "Manifest includes invalid metadata field(s). Invalid field(s): " + ",".join(invalid)
        )
    if any(u in repeated for u in AVALON_UNIQUE):
        raise ValidationError(
            "A non-repeatable header field is repeated. Repeating field(s): " + ",".join(repeated)
        )
    if not all(r in fields for r in AVALON_REQUIRED) and "Bibliographic ID" not in fields:
        raise ValidationError("One of the required headers is missing: Title, Date Issued, File.")
    for second, first in AVALON_PAIRS.items():
        if second in fields and first not in fields:
            raise ValidationError(f"{second} field missing its required pair.")
    if len(rows) < 3:
        raise ValidationError("The document is incomplete.")
    file_cols = [i for i, f in enumerate(header) if f == "File"]
    op_cols = [i for i, f in enumerate(header) if f in ("Publish", "Hidden")]
    for row in rows[2:]:
        for c in file_cols:
            value = _cell(row, c)
            if value.count(".") > 1 and not any(q in value for q in QUALITY_MARKERS):
                raise ValidationError(f"Filepath {value} contains more than one period.")
        for c in op_cols:
            value = _cell(row, c)
            if value and value.lower() not in ("yes", "no"):
                raise ValidationError(
                    f"Publish/Hidden fields must have boolean value (yes or no). Value is {value}"
                )


def validate_rights(data: bytes) -> None:
    """A PREMIS rights CSV (``metadata/rights.csv``)."""
    rows = _rows(data)
    if not rows:
        raise ValidationError("The document is empty.")
    header = [h for h in rows[0] if h != ""]
    for column in header:
        if column[0] == " " or column[-1] == " ":
            raise ValidationError(
                f"Columns cannot have leading or trailing blanks. Invalid column: {column}"
            )
    invalid = sorted(set(header) - set(RIGHTS_REQUIRED + RIGHTS_OPTIONAL))
    if invalid:
        raise ValidationError("Invalid column(s) found: " + ",".join(invalid))
    if not all(c in header for c in RIGHTS_REQUIRED):
        raise ValidationError(
            "One of the required columns is missing: " + ", ".join(RIGHTS_REQUIRED)
        )
    if len(rows) < 2:
        raise ValidationError("The document is incomplete.")
    cols = {name: i for i, name in enumerate(rows[0])}

    def get(row: list[str], name: str) -> str:
        return _cell(row, cols.get(name))

    for row in rows[1:]:
        basis = get(row, "basis")
        if not basis:
            raise ValidationError("No basis specified.")
        if basis.lower() == "copyright":
            if not get(row, "status"):
                raise ValidationError("No copyright status specified for copyright basis.")
            if not get(row, "jurisdiction"):
                raise ValidationError("No jurisdiction specified for copyright basis.")
            if get(row, "terms") or get(row, "citation"):
                raise ValidationError(
                    "Copyright row contains fields that cannot pertain to copyright basis."
                )
        elif basis.lower() == "statute":
            if not get(row, "citation"):
                raise ValidationError("No statute citation specified for statute basis.")
            if not get(row, "jurisdiction"):
                raise ValidationError("No jurisdiction specified for statute basis.")
            if get(row, "terms") or get(row, "status"):
                raise ValidationError(
                    "Statute row contains fields that cannot pertain to statute basis."
                )
        docs = [get(row, d) for d in ("doc_id_type", "doc_id_value", "doc_id_role")]
        if any(docs) and not docs[0] and not docs[1]:
            raise ValidationError("Documentation identifier type and value are required.")
        grants = [
            get(row, g)
            for g in (
                "grant_act",
                "grant_restriction",
                "grant_start_date",
                "grant_end_date",
                "grant_note",
            )
        ]
        if any(grants):
            restriction = get(row, "grant_restriction")
            if not restriction:
                raise ValidationError("No restriction specified.")
            if restriction.lower() not in ("disallow", "conditional", "allow"):
                raise ValidationError(
                    "The value of element restriction must be: 'allow', "
                    "'disallow', or 'conditional'"
                )


VALIDATORS: dict[str, Callable[[bytes], None]] = {
    "avalon": validate_avalon,
    "rights": validate_rights,
}
