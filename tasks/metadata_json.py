"""``metadata/metadata.json``: Archivematica's JSON form of ``metadata.csv``.

The file is a JSON array with one object per described path::

    [
      {"filename": "objects/photos", "dc.title": "Photographs", "dc.subject": ["a", "b"]},
      {"filename": "objects/photos/pic.jpg", "dc.creator": "Ann", "Box number": 3}
    ]

``filename`` (or ``parts``, Archivematica's other name for it) is a path inside the
transfer, ``objects`` for the whole package; every other key is a column of
``metadata.csv`` (``dc.*`` Dublin Core, anything else custom metadata); a list value
is a column repeated, as Archivematica's ``json_metadata_to_csv`` flattens it.
Numbers and booleans are written as text; ``null`` means no value. The records are
checked with ``metadata.csv``'s own rules (``tasks.metadata_csv.metadata_rows``), and
a problem is reported by record number (the first object is record 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from custos.errors import InvalidInput
from tasks.metadata_csv import MetadataRow, metadata_rows

NAME_KEYS = ("filename", "parts")


def _values(value: Any) -> list[str] | None:
    """The cell values of one key (None: not a value JSON metadata may hold)."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if item is None:
            out.append("")
        elif isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            return None
    return out


def load_metadata_json(path: str | Path) -> list[MetadataRow]:
    """Parse metadata.json into :class:`MetadataRow` records (``line`` = record number).

    Raises:
        InvalidInput: not JSON, not an array of objects, a nested value, or a record
            ``metadata.csv`` would refuse; ``details`` lists every problem by record.
    """
    json_path = Path(path)
    try:
        data = json.loads(json_path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{json_path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput(f"{json_path.name}: must be a JSON array of objects")
    errors: list[dict[str, Any]] = []
    records: list[dict[str, list[str]]] = []
    for n, record in enumerate(data, start=1):
        cells: dict[str, list[str]] = {}
        for key, value in record.items():
            values = _values(value)
            if values is None:
                errors.append({"record": n, "key": key, "error": f"{key}: nested value"})
                continue
            cells["filename" if key.lower() in NAME_KEYS else key] = values
        if "filename" not in cells:
            errors.append({"record": n, "key": None, "error": "no 'filename'"})
        records.append(cells)
    if errors:
        raise InvalidInput(_message(json_path.name, errors), details=errors)
    header: list[str] = []
    counts: dict[str, int] = {}
    for cells in records:
        for key, values in cells.items():
            counts[key] = max(counts.get(key, 0), len(values))
    for key in ["filename", *sorted(k for k in counts if k != "filename")]:
        header += [key] * counts[key]
    rows = [header]
    for cells in records:
        row: list[str] = []
        for key in dict.fromkeys(header):
            values = cells.get(key, [])
            row += values + [""] * (counts[key] - len(values))
        rows.append(row)
    try:
        return [
            MetadataRow(r.filename, r.line - 1, r.dc, r.custom)
            for r in metadata_rows(rows, json_path.name)
        ]
    except InvalidInput as exc:
        details = [
            {"record": (d["line"] - 1) or None, "key": None, "error": d["error"]}
            for d in (exc.details or [])
            if isinstance(d, dict)
        ] or [{"record": None, "key": None, "error": exc.message}]
        raise InvalidInput(_message(json_path.name, details), details=details) from exc


def _message(name: str, errors: list[dict[str, Any]]) -> str:
    e = errors[0]
    where = f"record {e['record']}: " if e.get("record") else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{name}: {where}{e['error']}{more}"
