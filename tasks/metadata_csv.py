"""Load ``metadata/metadata.csv`` (Dublin Core) and ``metadata/rights.csv`` (PREMIS rights).

Archivematica reads per-file and per-directory descriptive metadata from
``metadata.csv``: a ``filename`` column (``objects/...`` relative to the
transfer) and ``dc.*`` columns, a column repeated for repeated values; other
columns become custom metadata. ``rights.csv`` carries one rights statement per
row, in Archivematica's columns (``RIGHTS_COLUMNS``: basis, status, jurisdiction,
applicable dates, licence terms, statute citation, note, one act granted with its
restriction and dates, one documentation identifier); a jurisdiction is an ISO 3166
code (``custos.jurisdictions``). Both files are
written by people in spreadsheets, so every bad row is reported at once, with
line and column, in one :class:`InvalidInput` (``details`` is a list of dicts).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from custos.errors import InvalidInput
from custos.jurisdictions import jurisdiction_problem

DC_ELEMENTS = (
    "title",
    "creator",
    "subject",
    "description",
    "publisher",
    "contributor",
    "date",
    "type",
    "format",
    "identifier",
    "source",
    "language",
    "relation",
    "coverage",
    "rights",
)
RIGHTS_COLUMNS = (
    "file",
    "basis",
    "status",
    "determination_date",
    "jurisdiction",
    "start_date",
    "end_date",
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
)
RIGHTS_BASES = ("copyright", "statute", "license", "donor", "policy", "other")
RESTRICTIONS = ("allow", "disallow", "conditional")


@dataclass(frozen=True)
class MetadataRow:
    """Descriptive metadata for one file or directory (``filename`` as in the CSV)."""

    filename: str
    line: int
    dc: dict[str, list[str]] = field(default_factory=dict)  # "title" -> ["A", "B"]
    custom: dict[str, list[str]] = field(default_factory=dict)  # original column names

    @property
    def is_objects_level(self) -> bool:
        """True for the row describing the whole ``objects`` directory (SIP-level DC)."""
        return self.filename.rstrip("/") == "objects"


@dataclass(frozen=True)
class RightsRow:
    """One rights statement with one act granted (Archivematica's rights.csv row)."""

    file: str
    line: int
    basis: str
    file_column: int = 1
    status: str = ""
    determination_date: dt.date | None = None
    jurisdiction: str = ""
    start_date: dt.date | None = None
    end_date: dt.date | None = None  # None with end_open: "OPEN"
    end_open: bool = False
    terms: str = ""  # licence terms (License basis)
    citation: str = ""  # statute citation (Statute basis)
    note: str = ""
    grant_act: str = ""
    grant_restriction: str = ""
    grant_start_date: dt.date | None = None
    grant_end_date: dt.date | None = None
    grant_end_open: bool = False
    grant_note: str = ""
    doc_id_type: str = ""
    doc_id_value: str = ""
    doc_id_role: str = ""


def _read_rows(path: Path) -> list[list[str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path.name}: {exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not UTF-8 (byte {exc.start}); save it as CSV UTF-8",
            details=[{"line": text_line(raw, exc.start), "error": "not UTF-8"}],
        ) from exc
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InvalidInput(f"{path.name}: malformed CSV: {exc}") from exc


def text_line(raw: bytes, offset: int) -> int:
    """1-based line number of a byte offset (for error messages)."""
    return raw.count(b"\n", 0, offset) + 1


def _check_path(value: str) -> str | None:
    p = PurePosixPath(value)
    if not value.strip():
        return "empty filename"
    if p.is_absolute() or ".." in p.parts:
        return "filename must be a relative path inside the transfer"
    if p.parts[0] != "objects":
        return "filename must start with objects/"
    return None


def load_metadata_csv(path: str | Path) -> list[MetadataRow]:
    """Parse metadata.csv into one :class:`MetadataRow` per data row.

    Column names are matched case-insensitively; ``dc.<element>`` (the 15
    Dublin Core elements) go to ``dc``, ``dcterms.*`` and anything else to
    ``custom``. Raises :class:`InvalidInput` listing every bad row.
    """
    csv_path = Path(path)
    return metadata_rows(_read_rows(csv_path), csv_path.name)


def metadata_rows(rows: list[list[str]], source: str) -> list[MetadataRow]:
    """:func:`load_metadata_csv` on rows already read (a header, then one row per path);
    ``source`` names the file in messages. ``metadata.json`` is checked through it too."""
    if not rows:
        raise InvalidInput(f"{source} is empty")
    header = [h.strip() for h in rows[0]]
    lowered = [h.lower() for h in header]
    if "filename" not in lowered:
        raise InvalidInput(
            f"{source}: no 'filename' column",
            details=[{"line": 1, "column": None, "error": "missing filename column"}],
        )
    if lowered.count("filename") > 1:
        raise InvalidInput(f"{source}: the 'filename' column appears twice")
    name_col = lowered.index("filename")
    errors: list[dict[str, Any]] = []
    for col, name in enumerate(header):
        if not name:
            errors.append({"line": 1, "column": col + 1, "error": "empty column name"})
        elif lowered[col].startswith("dc.") and lowered[col][3:] not in DC_ELEMENTS:
            errors.append(
                {"line": 1, "column": col + 1, "error": f"unknown Dublin Core element {name!r}"}
            )
    out: list[MetadataRow] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            errors.append(
                {
                    "line": line,
                    "column": len(header) + 1,
                    "error": f"{len(row)} cells but {len(header)} columns",
                }
            )
            continue
        filename = row[name_col].strip() if name_col < len(row) else ""
        problem = _check_path(filename)
        if problem:
            errors.append({"line": line, "column": name_col + 1, "error": problem})
            continue
        key = filename.rstrip("/")
        if key in seen:
            errors.append(
                {
                    "line": line,
                    "column": name_col + 1,
                    "error": f"{filename} already described on line {seen[key]}",
                }
            )
            continue
        seen[key] = line
        dc: dict[str, list[str]] = {}
        custom: dict[str, list[str]] = {}
        for col, cell in enumerate(row):
            value = cell.strip()
            if col == name_col or not value or not header[col]:
                continue
            if lowered[col].startswith("dc.") and lowered[col][3:] in DC_ELEMENTS:
                dc.setdefault(lowered[col][3:], []).append(value)
            else:
                custom.setdefault(header[col], []).append(value)
        out.append(MetadataRow(filename, line, dc, custom))
    if errors:
        raise InvalidInput(f"{source}: {len(errors)} problem(s)", details=errors)
    return out


def _first(head: str, errors: list[dict[str, Any]]) -> str:
    """``head: line L, column C: error (and N more)``, the first problem spelled out."""
    e = errors[0]
    where = f"line {e['line']}" + (f", column {e['column']}" if e.get("column") else "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{head}: {where}: {e['error']}{more}"


def _date(value: str, *, allow_open: bool) -> tuple[dt.date | None, bool]:
    text = value.strip()
    if not text:
        return None, False
    if allow_open and text.upper() == "OPEN":
        return None, True
    return dt.date.fromisoformat(text), False


def load_rights_csv(path: str | Path) -> list[RightsRow]:
    """Parse rights.csv into :class:`RightsRow` records (dates as ``datetime.date``).

    Requires the ``file`` and ``basis`` columns; dates are ``YYYY-MM-DD`` and end
    dates may be ``OPEN``. Raises :class:`InvalidInput` listing every bad cell.
    """
    csv_path = Path(path)
    rows = _read_rows(csv_path)
    if not rows:
        raise InvalidInput(f"{csv_path.name} is empty")
    header = [h.strip().lower() for h in rows[0]]
    errors: list[dict[str, Any]] = []
    for required in ("file", "basis"):
        if required not in header:
            errors.append({"line": 1, "column": None, "error": f"missing {required!r} column"})
    unknown = [h for h in header if h not in RIGHTS_COLUMNS]
    for h in unknown:
        errors.append({"line": 1, "column": header.index(h) + 1, "error": f"unknown column {h!r}"})
    if errors:
        raise InvalidInput(_first(f"{csv_path.name}: bad header", errors), details=errors)
    out: list[RightsRow] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            errors.append(
                {
                    "line": line,
                    "column": len(header) + 1,
                    "error": f"{len(row)} cells but {len(header)} columns",
                }
            )
            continue
        cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        row_errors = len(errors)
        problem = _check_path(cells["file"])
        if problem:
            errors.append({"line": line, "column": header.index("file") + 1, "error": problem})
        basis = cells["basis"].lower()
        if basis not in RIGHTS_BASES:
            errors.append(
                {
                    "line": line,
                    "column": header.index("basis") + 1,
                    "error": f"basis {cells['basis']!r} is not one of {', '.join(RIGHTS_BASES)}",
                }
            )
        restriction = cells.get("grant_restriction", "")
        if restriction and restriction.lower() not in RESTRICTIONS:
            errors.append(
                {
                    "line": line,
                    "column": header.index("grant_restriction") + 1,
                    "error": f"grant_restriction {restriction!r} is not one of "
                    "Allow, Disallow, Conditional",
                }
            )
        jurisdiction = cells.get("jurisdiction", "")
        bad_place = jurisdiction_problem(jurisdiction) if jurisdiction else None
        if bad_place:
            errors.append(
                {
                    "line": line,
                    "column": header.index("jurisdiction") + 1,
                    "error": f"jurisdiction {bad_place}",
                }
            )
        dates: dict[str, tuple[dt.date | None, bool]] = {}
        for col in (
            "determination_date",
            "start_date",
            "end_date",
            "grant_start_date",
            "grant_end_date",
        ):
            try:
                dates[col] = _date(cells.get(col, ""), allow_open=col.endswith("end_date"))
            except ValueError:
                errors.append(
                    {
                        "line": line,
                        "column": header.index(col) + 1,
                        "error": f"{col} {cells[col]!r} is not a YYYY-MM-DD date",
                    }
                )
                dates[col] = (None, False)
        if len(errors) > row_errors:
            continue
        out.append(
            RightsRow(
                file=cells["file"],
                line=line,
                file_column=header.index("file") + 1,
                basis=basis,
                status=cells.get("status", ""),
                determination_date=dates["determination_date"][0],
                jurisdiction=jurisdiction,
                start_date=dates["start_date"][0],
                end_date=dates["end_date"][0],
                end_open=dates["end_date"][1],
                terms=cells.get("terms", ""),
                citation=cells.get("citation", ""),
                note=cells.get("note", ""),
                grant_act=cells.get("grant_act", ""),
                grant_restriction=restriction.capitalize() if restriction else "",
                grant_start_date=dates["grant_start_date"][0],
                grant_end_date=dates["grant_end_date"][0],
                grant_end_open=dates["grant_end_date"][1],
                grant_note=cells.get("grant_note", ""),
                doc_id_type=cells.get("doc_id_type", ""),
                doc_id_value=cells.get("doc_id_value", ""),
                doc_id_role=cells.get("doc_id_role", ""),
            )
        )
    if errors:
        raise InvalidInput(_first(csv_path.name, errors), details=errors)
    return out
