"""PREMIS rights statements from ``rights.csv``, matched to the original files they name.

One module for both places Archivematica's rights.csv matters: *Load rights* at
transfer (every row checked and matched, the transfer fails at that step with the line
and column of a bad cell) and *Generate AIP METS* (the statements written as
``rightsMD`` of each original). A row's ``file`` is a path of the transfer
(``objects/letter.pdf``); it matches an original by its path at arrival or its current
path, and a directory applies to every original under it. Rows repeating a file, basis
and act already loaded are skipped, as Archivematica's ``rights_from_csv`` does.

Example::

    loaded = match_rights([csv_path], originals)   # originals: [(uuid, original, current)]
    loaded.by_file["<file uuid>"]                  # [RightsRecord, ...]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from custos.errors import InvalidInput
from custos.mets import model
from tasks.metadata_csv import RightsRow, load_rights_csv


@dataclass(frozen=True)
class Original:
    """The identity and paths of one original file (its rows are matched on the paths)."""

    uuid: str
    original_path: str
    current_path: str


@dataclass
class LoadedRights:
    """What a set of rights.csv files gave: statements by file UUID, rows and skips."""

    by_file: dict[str, list[model.RightsRecord]] = field(default_factory=dict)
    rows: int = 0
    duplicates: list[str] = field(default_factory=list)

    @property
    def statements(self) -> int:
        return sum(len(v) for v in self.by_file.values())

    def summary(self) -> str:
        """One line for the job output."""
        text = f"{self.rows} rows: {self.statements} rights statements on {len(self.by_file)} files"
        if self.duplicates:
            text += "; skipped duplicate basis/act: " + ", ".join(self.duplicates)
        return text


def rights_record(row: RightsRow) -> model.RightsRecord:
    """One rights.csv row as a PREMIS rights statement with (at most) one act granted.

    Every column lands where Archivematica puts it: ``status``, ``jurisdiction``,
    ``determination_date`` in the basis' information; ``terms`` as the licence terms,
    ``citation`` as the statute citation; ``start_date``/``end_date`` as the basis'
    applicable dates; ``note`` as the basis' note; ``doc_id_*`` as its documentation
    identifier; ``grant_*`` as the act granted, its restriction and term.
    """
    basis = row.basis.capitalize()
    fields: dict[str, object] = {}
    if basis == "Copyright":
        fields = {
            "copyright_status": row.status,
            "copyright_jurisdiction": row.jurisdiction,
            "copyright_determination_date": row.determination_date,
            "copyright_note": row.note,
        }
    elif basis == "License":
        fields = {"license_terms": row.terms, "license_note": row.note}
    elif basis == "Statute":
        fields = {
            "statute_jurisdiction": row.jurisdiction,
            "statute_citation": row.citation,
            "statute_note": row.note,
            "statute_determination_date": row.determination_date,
        }
    else:
        fields = {"other_basis": basis, "other_note": row.note}
    granted: tuple[model.RightsGranted, ...] = ()
    if row.grant_act:
        granted = (
            model.RightsGranted(
                act=row.grant_act,
                restrictions=(row.grant_restriction.capitalize(),) if row.grant_restriction else (),
                start_date=row.grant_start_date,
                end_date=row.grant_end_date,
                end_open=row.grant_end_open,
                note=row.grant_note,
            ),
        )
    documentation: tuple[model.DocumentationIdentifier, ...] = ()
    if row.doc_id_type or row.doc_id_value or row.doc_id_role:
        documentation = (
            model.DocumentationIdentifier(row.doc_id_type, row.doc_id_value, row.doc_id_role),
        )
    return model.RightsRecord(
        basis=basis,
        granted=granted,
        start_date=row.start_date,
        end_date=row.end_date,
        end_open=row.end_open,
        documentation=documentation,
        **fields,  # type: ignore[arg-type]
    )


def _matches(target: str, f: Original) -> bool:
    return (
        target in (f.original_path, f.current_path)
        or f.original_path.startswith(target + "/")
        or f.current_path.startswith(target + "/")
    )


def match_rights(csv_paths: Iterable[Path], originals: Sequence[Original]) -> LoadedRights:
    """Parse every rights.csv and attach each row's statement to the originals it names.

    Raises:
        InvalidInput: a bad rights.csv cell (``details`` has line and column), or rows
            naming no original (``details`` lists them by line).
    """
    out = LoadedRights()
    by_file: dict[str, list[model.RightsRecord]] = defaultdict(list)
    unmatched: list[dict[str, object]] = []
    seen: set[tuple[str, str, str]] = set()
    for csv_path in csv_paths:
        for row in load_rights_csv(csv_path):
            out.rows += 1
            target = row.file.strip().rstrip("/")
            key = (target, row.basis.lower(), row.grant_act.lower())
            if key in seen:
                out.duplicates.append(f"line {row.line}")
                continue
            seen.add(key)
            matched = [f for f in originals if _matches(target, f)]
            if not matched:
                unmatched.append(
                    {
                        "line": row.line,
                        "column": row.file_column,
                        "error": f"{target} is not an original file",
                    }
                )
                continue
            record = rights_record(row)
            for f in matched:
                by_file[f.uuid].append(record)
    if unmatched:
        first = unmatched[0]
        raise InvalidInput(
            f"rights.csv line {first['line']}, column {first['column']}: {first['error']}"
            + (f" (and {len(unmatched) - 1} more)" if len(unmatched) > 1 else ""),
            details=unmatched,
        )
    out.by_file = dict(by_file)
    return out
