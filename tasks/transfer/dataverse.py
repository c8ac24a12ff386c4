"""Dataverse transfers: a dataset's files with its ``dataset.json``.

A ``dataverse`` transfer is a folder holding a Dataverse dataset's files (in their
``directoryLabel`` folders) and, at its top, ``dataset.json``, the dataset's JSON as
Dataverse's native API exports it (``datasetVersion.files`` and the ``citation``
metadata block). Archivematica converts it in two steps, kept here by name:

- *Convert Dataverse structure* (at *Verify transfer compliance*): ``dataset.json``
  moves to ``metadata/``, and the citation block becomes the dataset's descriptive
  metadata: a ``metadata/metadata.csv`` row for ``objects`` (dc.title, dc.creator
  per author, dc.identifier the persistent URL, dc.publisher, dc.date,
  dc.description, dc.subject), which the AIP METS carries as the SIP's Dublin Core
  dmdSec. A transfer that brings its own ``metadata/metadata.csv`` is refused
  (two descriptions of one dataset).
- *Parse Dataverse METS XML* (at *Parse external files*): every file
  ``dataset.json`` lists must be in the transfer with the MD5 it gives; each gets a
  *fixity check* event (``program="python"; module="hashlib.md5()"``). A missing
  file or a different checksum fails the transfer, naming them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from custos.errors import InvalidInput
from custos.recorder import JobHandle

from .common import TransferContext

DATASET = "dataset.json"
CSV_HEADER = (
    "filename",
    "dc.title",
    "dc.creator",
    "dc.identifier",
    "dc.publisher",
    "dc.date",
    "dc.description",
    "dc.subject",
)


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
    if not isinstance(data, dict) or not isinstance(data.get("datasetVersion"), dict):
        raise InvalidInput(f"{DATASET} has no datasetVersion: not a Dataverse dataset export")
    return data


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    blocks = data["datasetVersion"].get("metadataBlocks") or {}
    fields = (blocks.get("citation") or {}).get("fields") or []
    return {str(f.get("typeName")): f.get("value") for f in fields if isinstance(f, dict)}


def _compound(values: Any, key: str) -> list[str]:
    """The ``key`` sub-field of each entry of a compound citation field."""
    out = []
    for entry in values if isinstance(values, list) else []:
        value = (entry.get(key) or {}).get("value") if isinstance(entry, dict) else None
        if isinstance(value, str) and value.strip():
            out.append(value.strip())
    return out


def dublin_core(data: dict[str, Any]) -> dict[str, list[str]]:
    """The dataset's citation metadata as Dublin Core elements."""
    fields = _fields(data)
    version = data["datasetVersion"]
    title = fields.get("title")
    subjects = fields.get("subject")
    return {
        "dc.title": [title] if isinstance(title, str) else [],
        "dc.creator": _compound(fields.get("author"), "authorName"),
        "dc.identifier": [data["persistentUrl"]] if data.get("persistentUrl") else [],
        "dc.publisher": [data["publisher"]] if data.get("publisher") else [],
        "dc.date": [version["releaseTime"][:10]] if version.get("releaseTime") else [],
        "dc.description": _compound(fields.get("dsDescription"), "dsDescriptionValue"),
        "dc.subject": [s for s in subjects if isinstance(s, str)]
        if isinstance(subjects, list)
        else [],
    }


def metadata_csv(elements: dict[str, list[str]]) -> str:
    """One ``objects`` row (repeated elements joined as metadata.csv repeats columns)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, row = ["filename"], ["objects"]
    for name in CSV_HEADER[1:]:
        for value in elements.get(name) or []:
            header.append(name)
            row.append(value)
    writer.writerow(header)
    writer.writerow(row)
    return out.getvalue()


def convert(ctx: TransferContext, job: JobHandle) -> None:
    """*Convert Dataverse structure*: dataset.json into metadata/, with a metadata.csv."""
    root = ctx.directory
    source = root / DATASET
    target = root / "metadata" / DATASET
    if not source.exists() and target.exists():
        job.output = "resumed: dataset.json is in metadata/ already"
        return
    data = load_dataset(source)
    csv_path = root / "metadata" / "metadata.csv"
    if csv_path.exists():
        raise InvalidInput(
            "a dataverse transfer is described by its dataset.json; "
            "remove metadata/metadata.csv (two descriptions of one dataset)"
        )
    csv_path.parent.mkdir(exist_ok=True)
    csv_path.write_text(metadata_csv(dublin_core(data)), encoding="utf-8")
    source.replace(target)
    files = data["datasetVersion"].get("files") or []
    job.output = f"{len(files)} files listed; Dublin Core written to metadata/metadata.csv"


def listed_files(data: dict[str, Any]) -> dict[str, str]:
    """Path under ``objects/`` -> MD5, for every file the dataset lists."""
    out = {}
    for entry in data["datasetVersion"].get("files") or []:
        data_file = entry.get("dataFile") or {}
        name = data_file.get("filename") or entry.get("label")
        if not name:
            continue
        folder = (entry.get("directoryLabel") or "").strip("/")
        checksum = data_file.get("checksum") or {}
        md5 = data_file.get("md5") or (
            checksum.get("value") if checksum.get("type") == "MD5" else None
        )
        out[f"{folder}/{name}" if folder else name] = md5 or ""
    return out


def verify(ctx: TransferContext, job: JobHandle) -> None:
    """*Parse Dataverse METS XML*: every listed file present, with its MD5."""
    data = load_dataset(ctx.directory / "metadata" / DATASET)
    rows = {f.current_path.removeprefix("objects/"): f for f in ctx.files(uses=["original"])}
    problems = []
    checked = 0
    for rel, md5 in sorted(listed_files(data).items()):
        row = rows.get(rel)
        if row is None:
            problems.append(f"{rel}: listed in dataset.json, not in the transfer")
            continue
        if not md5:
            continue
        digest = hashlib.md5(ctx.disk_path(row).read_bytes(), usedforsecurity=False).hexdigest()
        ok = digest == md5.lower()
        checked += 1
        job.event(
            file_uuid=row.uuid,
            event_type="fixity check",
            detail='program="python"; module="hashlib.md5()"',
            outcome="pass" if ok else "fail",
            outcome_note=f"dataset.json MD5 {md5}; file {digest}",
        )
        if not ok:
            problems.append(f"{rel}: MD5 {digest}, dataset.json says {md5}")
    if problems:
        raise InvalidInput("dataverse transfer: " + "; ".join(problems), details=problems)
    job.output = f"{checked} files match dataset.json"
