"""What users supplied under a SIP's ``objects/metadata/``, matched to its files.

The files a transfer (or a user during ingest) put in ``metadata/`` travel into the
SIP's ``objects/metadata/`` (``transfers/<transfer>/`` for a transfer's). Each reader
here finds them there, parses them with the parser its transfer job used, and maps
what they say onto the AIP's files for :mod:`.mets_task`: rights statements
(``rights.csv``), Dublin Core and custom records (``metadata.csv``, ``metadata.json``),
identifiers (``identifiers.json``), labels (``file_labels.csv``) and further structMaps
(``mets_structmap.xml``). Users name files as the transfer received them;
:func:`transfer_paths` follows them to where they are now. The ingest jobs
*Process JSON metadata* and *Load persistent identifiers from external file* use
:func:`check_json_metadata` and :func:`load_identifiers`.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid5

from sqlalchemy import Engine

from custos.db import get_engine, session_scope
from custos.errors import InvalidInput
from custos.mets import model
from custos.models import File, FileUse, Unit
from tasks.metadata_csv import load_metadata_csv
from tasks.metadata_identifiers import MatchedIdentifiers, match_identifiers
from tasks.metadata_json import load_metadata_json
from tasks.metadata_labels import load_file_labels
from tasks.metadata_rights import Original, match_rights
from tasks.metadata_structmap import resolve_structmap

from .sip import AIP_USES, Sip, sip_files

TRANSFER_PREFIX = "%transferDirectory%"


def rights_by_file(sip: Sip, files: list[File]) -> dict[str, list[model.RightsRecord]]:
    """Rights statements of every ``rights.csv`` in the SIP's metadata, by original.

    Matching and the mapping of each column are ``tasks.metadata_rights``'s; rows
    naming nothing in the SIP fail the METS step, since rights silently dropped are
    worse than a SIP that stops.

    Raises:
        InvalidInput: a bad rights.csv cell, or a row naming no original of the SIP.
    """
    meta = sip.path / "objects" / "metadata"
    originals = [
        Original(f.uuid, f.original_path, f.current_path)
        for f in files
        if f.use == FileUse.ORIGINAL
    ]
    paths = sorted(meta.rglob("rights.csv")) if meta.is_dir() else []
    return match_rights(paths, originals).by_file


def transfer_paths(files: tuple[model.AIPFile, ...]) -> dict[str, str]:
    """Paths as the user wrote them (the transfer's) -> paths in the AIP, for originals
    and their directories: metadata files name things before *Change object and
    directory filenames* renamed them, as Archivematica matches them."""
    out: dict[str, str] = {}
    for f in files:
        if not f.original_name.startswith(TRANSFER_PREFIX):
            continue
        before = Path(f.original_name.removeprefix(TRANSFER_PREFIX))
        after = Path(f.path)
        if len(before.parts) != len(after.parts):
            continue
        out[before.as_posix()] = after.as_posix()
        for old, new in zip(before.parents, after.parents, strict=True):
            if old.as_posix() != ".":
                out.setdefault(old.as_posix(), new.as_posix())
    return out


def dublin_core(
    sip: Sip, files: tuple[model.AIPFile, ...]
) -> tuple[list[model.DublinCoreRecord], list[str]]:
    """DC records from the SIP's metadata.csv and metadata.json files (a file's records,
    then the next file's); also the rows skipped and why."""
    known = {f.path for f in files}
    dirs = {p.as_posix() for f in files for p in Path(f.path).parents if p.as_posix() != "."}
    renamed = transfer_paths(files)
    records: list[model.DublinCoreRecord] = []
    skipped: list[str] = []
    meta = sip.path / "objects" / "metadata"
    sources = [
        (path, load_metadata_csv if path.name == "metadata.csv" else load_metadata_json)
        for name in ("metadata.csv", "metadata.json")
        for path in (sorted(meta.rglob(name)) if meta.is_dir() else [])
    ]
    for csv_path, load in sources:
        for row in load(csv_path):
            path = row.filename.strip().rstrip("/")
            path = renamed.get(path, path)
            if path not in known and path not in dirs and path != "objects":
                skipped.append(f"{csv_path.name} line {row.line}: {path} is not in the SIP")
                continue
            elements = [(f"dc.{k}", v) for k, values in row.dc.items() for v in values]
            elements += [(k, v) for k, values in row.custom.items() for v in values]
            if elements:
                records.append(model.DublinCoreRecord(path, tuple(elements)))
    return records, skipped


def metadata_files(sip: Sip, name: str) -> list[Path]:
    """Every ``name`` under the SIP's ``objects/metadata/`` (one per transfer, and the
    SIP's own), in path order."""
    meta = sip.path / "objects" / "metadata"
    return sorted(meta.rglob(name)) if meta.is_dir() else []


def _directories(files: tuple[model.AIPFile, ...]) -> set[str]:
    return {p.as_posix() for f in files for p in Path(f.path).parents if p.as_posix() != "."}


def identifiers(sip: Sip, files: tuple[model.AIPFile, ...]) -> MatchedIdentifiers:
    """The SIP's identifiers.json files matched to its files, directories and itself.

    Raises:
        InvalidInput: a bad identifiers.json, or one naming a path not in the AIP.
    """
    return match_identifiers(
        metadata_files(sip, "identifiers.json"),
        {f.path: str(f.uuid) for f in files},
        _directories(files) - {"objects"},
        transfer_paths(files),
    )


def custom_structmaps(sip: Sip, files: tuple[model.AIPFile, ...]) -> list[bytes]:
    """Each mets_structmap.xml of the SIP's metadata, pointers set to the AIP's file IDs.

    Raises:
        InvalidInput: a structMap pointing at a file the AIP lacks (named).
    """
    file_ids = {f.path: f"file-{f.uuid}" for f in files}
    renamed = transfer_paths(files)
    return [
        resolve_structmap(path, file_ids, renamed)
        for path in metadata_files(sip, "mets_structmap.xml")
    ]


def file_labels(sip: Sip, files: tuple[model.AIPFile, ...]) -> dict[str, str]:
    """Labels of originals (by file UUID) from the SIP's file_labels.csv files.

    Raises:
        InvalidInput: a file_labels.csv row naming no original of the SIP.
    """
    originals = {
        f.original_name.removeprefix(TRANSFER_PREFIX): str(f.uuid)
        for f in files
        if f.use is model.FileUse.ORIGINAL and f.original_name.startswith(TRANSFER_PREFIX)
    }
    out: dict[str, str] = {}
    for path in metadata_files(sip, "file_labels.csv"):
        for original, label in load_file_labels(path, originals).items():
            out[originals[original]] = label
    return out


def _light_files(sip: Sip, engine: Engine | None) -> tuple[model.AIPFile, ...]:
    """The SIP's AIP files from their File rows alone (paths, use, original name)."""
    return tuple(
        model.AIPFile(
            uuid=UUID(f.uuid),
            path=f.current_path,
            use=model.FileUse(f.use),
            size=0,
            checksum="",
            original_name=(
                "" if f.use == FileUse.PRESERVATION else f"{TRANSFER_PREFIX}{f.original_path}"
            ),
        )
        for f in sip_files(sip.uuid, uses=AIP_USES, engine=engine)
        if f.current_path.startswith("objects/")
    )


def load_identifiers(sip: Sip, engine: Engine | None = None) -> MatchedIdentifiers:
    """:func:`identifiers` from the SIP's File rows alone (no events read): what *Load
    persistent identifiers from external file* checks before the METS is written."""
    return identifiers(sip, _light_files(sip, engine))


def check_json_metadata(sip: Sip, engine: Engine | None = None) -> str:
    """*Process JSON metadata*: every metadata.json of the SIP (the transfer's, one added
    during ingest) parsed, each record naming a path of the AIP; a summary line.

    Raises:
        InvalidInput: a bad record, or records naming paths the AIP lacks (listed).
    """
    paths = metadata_files(sip, "metadata.json")
    if not paths:
        return "no metadata.json"
    files = _light_files(sip, engine)
    known = {f.path for f in files} | _directories(files)
    renamed = transfer_paths(files)
    count, missing = 0, []
    for path in paths:
        for row in load_metadata_json(path):
            count += 1
            target = row.filename.strip().rstrip("/")
            if renamed.get(target, target) not in known:
                missing.append(f"{path.name} record {row.line}: {target}")
    if missing:
        raise InvalidInput(
            "metadata.json names paths that are not in the AIP: " + "; ".join(missing), missing
        )
    return f"{count} records in {len(paths)} metadata.json"


def directory_entities(
    sip: Sip,
    files: tuple[model.AIPFile, ...],
    extra: dict[str, tuple[tuple[str, str], ...]],
    engine: Engine | None = None,
) -> list[model.Directory]:
    """Directories given identifiers, as PREMIS entities: the UUID the transfer gave
    them (*Assign UUIDs to directories*), else one derived from the SIP and the path."""
    if not extra:
        return []
    assigned: dict[str, str] = {}
    if sip.transfer_uuid:
        with session_scope(engine or get_engine()) as s:
            transfer = s.get(Unit, sip.transfer_uuid)
            assigned = (
                dict((transfer.variables or {}).get("directory_uuids") or {}) if transfer else {}
            )
    renamed = transfer_paths(files)
    by_aip_path = {renamed.get(k, k): (k, v) for k, v in assigned.items()}
    out = []
    for path, ids in sorted(extra.items()):
        original, uuid = by_aip_path.get(path, (path, str(uuid5(UUID(sip.uuid), path))))
        out.append(
            model.Directory(path, UUID(uuid), f"%transferDirectory%{original}/", identifiers=ids)
        )
    return out
