"""``metadata/identifiers.json``: identifiers a user already has for files and folders.

Archivematica (1.15 and later) reads this file at *Load persistent identifiers from
external file* and writes each identifier as one more ``premis:objectIdentifier`` of
what it names: a file's PREMIS object (techMD), a directory's PREMIS intellectual
entity (the dmdSec of its structMap div), or, for ``objects``, the AIP's own entity.
The layout is Archivematica's, including its spelling ``identiferType``
(``identifierType`` is accepted too)::

    [
      {"file": "objects/letters/a.txt",
       "identifiers": [{"identifier": "https://hdl.handle.net/1/A", "identiferType": "URI"},
                       {"identifier": "01HBX0W5M3", "identiferType": "ULID"}]},
      {"file": "objects/letters", "identifiers": [...]},
      {"file": "objects", "identifiers": [...]}
    ]

A path without the leading ``objects/`` is taken inside ``objects/``, as Archivematica
does. Where Archivematica skips what it cannot match with a warning, Custos refuses
the file naming every record at fault: identifiers silently dropped are lost for good.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from custos.errors import InvalidInput

TYPE_KEYS = ("identiferType", "identifierType")


@dataclass(frozen=True)
class IdentifierEntry:
    """The identifiers (type, value) given to one path (``objects/...``), record ``n``."""

    path: str
    identifiers: tuple[tuple[str, str], ...]
    record: int


def _path(value: str) -> str | None:
    p = PurePosixPath(value.strip().strip("/"))
    if not str(p) or str(p) == "." or p.is_absolute() or ".." in p.parts:
        return None
    if p.parts[0] != "objects":
        p = PurePosixPath("objects") / p
    return p.as_posix()


def _entry(n: int, record: Any) -> tuple[IdentifierEntry | None, list[str]]:
    if not isinstance(record, dict):
        return None, [f"record {n}: not an object"]
    file_value = record.get("file")
    path = _path(file_value) if isinstance(file_value, str) else None
    if path is None:
        return None, [f"record {n}: 'file' must be a path inside objects/"]
    ids = record.get("identifiers")
    if not isinstance(ids, list) or not ids:
        return None, [f"record {n} ({path}): 'identifiers' must be a non-empty list"]
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for k, ident in enumerate(ids, start=1):
        kind = (
            next((ident.get(t) for t in TYPE_KEYS if t in ident), None)
            if isinstance(ident, dict)
            else None
        )
        value = ident.get("identifier") if isinstance(ident, dict) else None
        if not isinstance(kind, str) or not kind.strip() or not isinstance(value, str | int):
            problems.append(
                f"record {n} ({path}): identifier {k} needs 'identifier' and 'identiferType'"
            )
            continue
        if kind.strip().upper() == "UUID":
            problems.append(f"record {n} ({path}): the UUID identifier is Custos' own")
            continue
        pairs.append((kind.strip(), str(value).strip()))
    return IdentifierEntry(path, tuple(pairs), n), problems


def load_identifiers_json(path: str | Path) -> list[IdentifierEntry]:
    """Parse identifiers.json; one entry per record, a path named twice merged in order.

    Raises:
        InvalidInput: not JSON, not an array, or a record without a usable path or
            identifiers; ``details`` lists every problem by record number.
    """
    json_path = Path(path)
    try:
        data = json.loads(json_path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{json_path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise InvalidInput(f"{json_path.name}: must be a JSON array of objects")
    problems: list[str] = []
    merged: dict[str, IdentifierEntry] = {}
    for n, record in enumerate(data, start=1):
        entry, errs = _entry(n, record)
        problems += errs
        if entry is None:
            continue
        seen = merged.get(entry.path)
        if seen is not None:
            extra = tuple(i for i in entry.identifiers if i not in seen.identifiers)
            entry = IdentifierEntry(entry.path, seen.identifiers + extra, seen.record)
        merged[entry.path] = entry
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"{json_path.name}: {problems[0]}{more}", details=problems)
    return list(merged.values())


@dataclass
class MatchedIdentifiers:
    """identifiers.json matched to an AIP: by file UUID, by directory path, the AIP's."""

    files: dict[str, tuple[tuple[str, str], ...]]
    directories: dict[str, tuple[tuple[str, str], ...]]
    aip: tuple[tuple[str, str], ...]

    def summary(self) -> str:
        count = sum(len(v) for v in (*self.files.values(), *self.directories.values()))
        count += len(self.aip)
        return (
            f"{count} identifiers: {len(self.files)} files, {len(self.directories)} "
            f"directories{', the AIP' if self.aip else ''}"
        )


def match_identifiers(
    json_paths: list[Path],
    files: dict[str, str],
    directories: set[str],
    renamed: dict[str, str],
) -> MatchedIdentifiers:
    """Match every identifiers.json entry to a file (by path -> UUID), a directory or the AIP.

    ``files`` maps AIP paths (``objects/...``) to file UUIDs, ``directories`` holds the
    AIP's directory paths and ``renamed`` maps paths as the transfer had them to AIP
    paths (names changed at transfer).

    Raises:
        InvalidInput: a bad file, or entries naming nothing in the AIP (all listed).
    """
    out = MatchedIdentifiers({}, {}, ())
    missing: list[str] = []
    for json_path in json_paths:
        for entry in load_identifiers_json(json_path):
            path = renamed.get(entry.path, entry.path)
            if path == "objects":
                out.aip += tuple(i for i in entry.identifiers if i not in out.aip)
            elif path in files:
                uuid = files[path]
                out.files[uuid] = out.files.get(uuid, ()) + entry.identifiers
            elif path in directories:
                out.directories[path] = out.directories.get(path, ()) + entry.identifiers
            else:
                missing.append(f"record {entry.record}: {entry.path}")
    if missing:
        raise InvalidInput(
            "identifiers.json names paths that are not in the AIP: " + "; ".join(missing),
            details=missing,
        )
    return out
