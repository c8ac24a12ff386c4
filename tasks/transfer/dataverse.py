"""Dataverse transfers: a dataset's files with its ``dataset.json``.

A ``dataverse`` transfer is a folder holding a Dataverse dataset's files (in their
``directoryLabel`` folders; a tabular file as its bundle's folder) and, at its top,
``dataset.json``, the dataset's JSON as Dataverse's native API exports it. Archivematica
handles it in two jobs, kept here by name (the METS itself: :mod:`custos.mets.dataverse`):

- *Convert Dataverse structure* (at *Verify transfer compliance*): ``dataset.json``
  moves to ``metadata/`` and the Dataverse METS is written beside it,
  ``metadata/METS.xml``: the dataset's DDI codebook, a reference to ``dataset.json``,
  every file with the MD5 Dataverse gives and its role. *Generate AIP METS* copies
  the DDI into the AIP METS (``tasks.ingest.external_mets``).
- *Parse Dataverse METS XML* (at *Parse external files*): every file the METS lists
  must be in the transfer; each gets its role (``derivative`` for a bundle's ``.tab``
  and ``.RData``, ``metadata`` for its ``-ddi.xml`` and citations), each derivative a
  *derivation* event on its original (its agent the first of ``metadata/agents.json``
  when the transfer has one), and each file with an MD5 a *fixity check* event
  (``program="python"; module="hashlib.md5()"``, ``Pass`` or ``Fail``, note
  ``Dataverse checksum <md5> verified``). A missing file or another checksum fails
  the transfer, naming them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from custos.errors import InvalidInput
from custos.mets.dataverse import (
    DATASET,
    DERIVATIVE,
    ORIGINAL,
    dataset_files,
    dataverse_mets,
    read_dataverse_mets,
)
from custos.mets.mets import write_mets
from custos.models.base import utcnow
from custos.recorder import AgentSpec, JobHandle

from .common import TransferContext

DATAVERSE_METS = "METS.xml"
AGENTS = "agents.json"


def load_dataset(path: Path) -> dict[str, Any]:
    """``dataset.json`` parsed; InvalidInput naming the problem otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"a dataverse transfer needs {DATASET} at its top") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{DATASET} cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{DATASET}: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, dict) or not isinstance(
        data.get("datasetVersion") or data.get("latestVersion"), dict
    ):
        raise InvalidInput(f"{DATASET} has no datasetVersion: not a Dataverse dataset export")
    return data


def convert(ctx: TransferContext, job: JobHandle) -> None:
    """*Convert Dataverse structure*: dataset.json into metadata/, the Dataverse METS beside."""
    root = ctx.directory
    source = root / DATASET
    target = root / "metadata" / DATASET
    mets_path = root / "metadata" / DATAVERSE_METS
    if not source.exists() and target.exists() and mets_path.exists():
        job.output = "resumed: dataset.json and METS.xml are in metadata/ already"
        return
    data = load_dataset(source)
    if mets_path.exists():
        raise InvalidInput(
            "a dataverse transfer's metadata/METS.xml is written from its dataset.json; "
            "remove the one supplied"
        )
    tree = dataverse_mets(data, created=utcnow(), namespace=UUID(ctx.uuid))
    mets_path.parent.mkdir(exist_ok=True)
    partial = mets_path.with_name(f".{DATAVERSE_METS}.partial")
    write_mets(tree, partial)
    partial.replace(mets_path)
    source.replace(target)
    job.output = (
        f"{len(dataset_files(data))} files listed; DDI and file list written to "
        f"metadata/{DATAVERSE_METS}"
    )


def _agents(root: Path) -> list[AgentSpec] | None:
    """The first agent of ``metadata/agents.json`` (Dataverse), as Archivematica uses it."""
    path = root / "metadata" / AGENTS
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        first = entries[0]
        return [
            AgentSpec(
                str(first["agentIdentifierType"]),
                str(first["agentIdentifierValue"]),
                str(first["agentName"]),
                str(first["agentType"]),
            )
        ]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidInput(f"metadata/{AGENTS}: not a list of PREMIS agents: {exc}") from exc


def verify(ctx: TransferContext, job: JobHandle) -> None:
    """*Parse Dataverse METS XML*: roles, derivations and MD5s from the Dataverse METS."""
    listed = read_dataverse_mets(ctx.directory / "metadata" / DATAVERSE_METS).files
    every = ctx.files()
    # Named as the dataset names them: by the path at arrival (as Archivematica looks
    # them up), which *Change object and directory filenames* does not change.
    rows = {f.current_path: f for f in every} | {f.original_path: f for f in every}
    missing = [f.path for f in listed if f"objects/{f.path}" not in rows]
    if missing:
        problems = [f"{p}: listed in dataset.json, not in the transfer" for p in missing]
        raise InvalidInput("dataverse transfer: " + "; ".join(problems), details=problems)
    agents = _agents(ctx.directory)
    changes = []
    problems = []
    checked = derived = 0
    for entry in listed:
        row = rows[f"objects/{entry.path}"]
        change: dict[str, Any] = {}
        if entry.use != ORIGINAL:
            change["use"] = entry.use
        if entry.use == DERIVATIVE and entry.derived_from:
            source = rows[f"objects/{entry.derived_from}"]
            change["derived_from"] = source.uuid
            job.event(
                file_uuid=source.uuid,
                event_type="derivation",
                outcome_note=f"%transferDirectory%{row.current_path}",
                agents=agents,
            )
            derived += 1
        if change:
            changes.append({"uuid": row.uuid, **change})
        if not entry.md5:
            continue
        digest = hashlib.md5(ctx.disk_path(row).read_bytes(), usedforsecurity=False).hexdigest()
        ok = digest == entry.md5
        checked += 1
        job.event(
            file_uuid=row.uuid,
            event_type="fixity check",
            detail='program="python"; module="hashlib.md5()"',
            outcome="Pass" if ok else "Fail",
            outcome_note=f"Dataverse checksum {entry.md5} "
            + ("verified" if ok else "verification failed"),
        )
        if not ok:
            problems.append(f"{entry.path}: MD5 {digest}, dataset.json says {entry.md5}")
    if problems:
        raise InvalidInput("dataverse transfer: " + "; ".join(problems), details=problems)
    job.update_files(changes)
    job.output = f"{checked} files match dataset.json; {derived} derivatives of tabular files"
