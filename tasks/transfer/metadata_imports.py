"""The transfer jobs that read what a user supplies in ``metadata/``.

Archivematica's documented transfer layout lets a user hand over, beside
``objects/``, files in ``metadata/`` that must reach the AIP METS. Each has its job,
named as Archivematica names it; each checks its file completely here, at transfer,
so a mistake fails the transfer at that job with the line (or element) at fault, not
the SIP much later. What they check is written into the AIP METS at *Generate AIP
METS* (``tasks.ingest.mets_task``), from the same parsers.

===============================================  ==========================================
Job                                              File
===============================================  ==========================================
Verify mets_structmap.xml compliance             ``metadata/mets_structmap.xml``
Process transfer JSON metadata                   ``metadata/metadata.json``
Load rights                                      ``metadata/rights.csv``
Load labels from metadata/file_labels.csv        ``metadata/file_labels.csv``
Load PREMIS events from metadata/premis.xml      ``metadata/premis.xml`` (events recorded)
===============================================  ==========================================

``identifiers.json`` is matched at ingest (*Load persistent identifiers from external
file*, ``tasks.ingest.steps``), as in Archivematica. ``docs/transfer-metadata.md``
describes each layout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from uuid import UUID

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import Event, FileUse
from custos.recorder import AgentSpec, JobHandle
from tasks.metadata_csv import load_metadata_csv
from tasks.metadata_json import load_metadata_json
from tasks.metadata_labels import load_file_labels
from tasks.metadata_premis import load_premis_events
from tasks.metadata_rights import Original, match_rights
from tasks.metadata_structmap import check_structmap

from .common import TransferContext

CHARACTERIZE_GROUP = "Characterize and extract metadata"


def _metadata_job(
    ctx: TransferContext,
    group: str,
    name: str,
    file_name: str,
    read: Callable[[Path, JobHandle], str],
) -> None:
    """Run the job ``name`` once over ``metadata/<file_name>``: ``read(path, job)``
    checks the file and returns the job's output; an absent file says so."""
    if not ctx.todo(name):
        return
    with ctx.recorder.job(ctx.uuid, group, name) as job:
        path = ctx.directory / "metadata" / file_name
        if not path.is_file():
            job.output = f"no metadata/{file_name}"
            return
        job.output = read(path, job)


def _originals(ctx: TransferContext) -> list[Original]:
    return [
        Original(f.uuid, f.original_path, f.current_path)
        for f in ctx.files(uses=[FileUse.ORIGINAL])
    ]


def load_rights(ctx: TransferContext) -> None:
    """*Load rights*: every row of ``metadata/rights.csv`` parsed and matched to originals.

    Raises:
        InvalidInput: a bad cell or a row naming no original (line and column).
    """

    def read(path: Path, _job: JobHandle) -> str:
        return "rights.csv: " + match_rights([path], _originals(ctx)).summary()

    _metadata_job(ctx, CHARACTERIZE_GROUP, "Load rights", "rights.csv", read)


def _described_paths(ctx: TransferContext) -> set[str]:
    """Every path a metadata file may describe: files, their directories, ``objects``."""
    paths = {f.current_path for f in ctx.files(uses=[FileUse.ORIGINAL])}
    dirs = {p.as_posix() for f in paths for p in PurePosixPath(f).parents if str(p) != "."}
    return paths | dirs | {"objects"}


def process_json_metadata(ctx: TransferContext) -> None:
    """*Process transfer JSON metadata*: ``metadata/metadata.json`` checked record by record.

    Archivematica converts the file into ``metadata.csv``; Custos reads it as it is
    (the file travels into the AIP's metadata unchanged) and checks here that every
    record names a path of the transfer and that no path is described both there
    and in ``metadata.csv``, since the two would become one path's two dmdSecs.

    Raises:
        InvalidInput: a bad record, a path not in the transfer, or one described twice.
    """

    def read(path: Path, _job: JobHandle) -> str:
        records = load_metadata_json(path)
        known = _described_paths(ctx)
        missing = [
            f"record {r.line}: {r.filename}"
            for r in records
            if r.filename.strip().rstrip("/") not in known
        ]
        if missing:
            raise InvalidInput(
                "metadata.json names paths that are not in the transfer: " + "; ".join(missing),
                details=missing,
            )
        csv_path = path.with_name("metadata.csv")
        if csv_path.is_file():
            in_csv = {r.filename.strip().rstrip("/") for r in load_metadata_csv(csv_path)}
            twice = sorted(in_csv & {r.filename.strip().rstrip("/") for r in records})
            if twice:
                raise InvalidInput(
                    "described in both metadata.csv and metadata.json: " + ", ".join(twice),
                    details=twice,
                )
        return f"metadata.json: {len(records)} records"

    _metadata_job(
        ctx, "Reformat metadata files", "Process transfer JSON metadata", "metadata.json", read
    )


def _event_uuid(ctx: TransferContext, key: tuple[str, str], taken: set[str]) -> str | None:
    """The event's own identifier when it is a UUID nobody has yet, else None (a new one)."""
    try:
        value = str(UUID(key[1]))
    except ValueError:
        return None
    if value in taken:
        return None
    with session_scope(ctx.recorder.engine) as s:
        if s.get(Event, value) is not None:
            return None
    return value


def load_premis_xml(ctx: TransferContext) -> None:
    """*Load PREMIS events from metadata/premis.xml*: its events (with their agents)
    recorded on the files they name, as Archivematica imports them.

    An event keeps its identifier when it is a UUID not yet used (its first file; each
    further file gets the event under a new UUID, as Archivematica's importer does).

    Raises:
        InvalidInput: premis.xml is invalid or names what the transfer lacks.
    """

    def read(path: Path, job: JobHandle) -> str:
        by_path = {f.original_path: f.uuid for f in ctx.files(uses=[FileUse.ORIGINAL])}
        imported = load_premis_events(path, set(by_path))
        taken: set[str] = set()
        count = 0
        for item in imported:
            event = item.event
            agents = [
                AgentSpec(a.identifier[0], a.identifier[1], a.name, a.type) for a in item.agents
            ]
            for rel in item.file_paths:
                uuid = _event_uuid(ctx, event.identifier, taken)
                if uuid:
                    taken.add(uuid)
                job.event(
                    file_uuid=by_path[rel],
                    event_type=event.type,
                    detail=event.detail,
                    outcome=event.outcome,
                    outcome_note=event.outcome_note,
                    event_datetime=event.datetime,
                    agents=agents,
                    uuid=uuid,
                )
                count += 1
        return f"premis.xml: {len(imported)} events recorded on {count} files"

    _metadata_job(
        ctx, CHARACTERIZE_GROUP, "Load PREMIS events from metadata/premis.xml", "premis.xml", read
    )


def load_labels(ctx: TransferContext) -> None:
    """*Load labels from metadata/file_labels.csv*: every row matched to an original.

    Raises:
        InvalidInput: a row without a label or naming no original file.
    """

    def read(path: Path, _job: JobHandle) -> str:
        originals = [f.original_path for f in ctx.files(uses=[FileUse.ORIGINAL])]
        return f"file_labels.csv: {len(load_file_labels(path, originals))} labels"

    _metadata_job(
        ctx,
        CHARACTERIZE_GROUP,
        "Load labels from metadata/file_labels.csv",
        "file_labels.csv",
        read,
    )


def verify_structmap(ctx: TransferContext) -> None:
    """*Verify mets_structmap.xml compliance*: valid METS, every file it names present.

    Raises:
        InvalidInput: invalid, or naming files the transfer does not have.
    """

    def read(path: Path, _job: JobHandle) -> str:
        root = ctx.directory
        count = check_structmap(path, lambda rel: (root / rel).is_file())
        return f"mets_structmap.xml is valid; it points at {count} files"

    _metadata_job(
        ctx,
        "Verify transfer compliance",
        "Verify mets_structmap.xml compliance",
        "mets_structmap.xml",
        read,
    )
