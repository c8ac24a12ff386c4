"""The checks files added during ingest get before the METS is written.

Metadata files copied into a SIP (``copy_metadata_files``) and submission
documentation arrive after the transfer's checks ran, so Archivematica's *Process
submission documentation* and *Process metadata directory* give them their own:
checksums (*message digest calculation*), a ClamAV scan (*virus check*), Siegfried
(*format identification*) and characterization, each job with a Task row per file.
A file that the transfer already checked (it carries the event) is not checked
again, as Archivematica's ``archivematicaClamscan`` skips scanned files; so a
re-run after a crash only does what is missing. An infected file, or one that
could not be scanned, fails the job (and the SIP) with a message naming it.

Example::

    rows = unchecked(sip, "objects/metadata", VIRUS_CHECK, engine)
    scan_rows(sip, rows, job)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, or_
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.fixity import digest_event_detail
from custos.models import Event, File, FileUse
from custos.recorder import JobHandle, Recorder
from custos.settings import get_settings
from custos.sip_metadata import METADATA_MOVED_JOB
from tasks.tools.characterize import characterize_files
from tasks.tools.clamav import CLEAN, INFECTED, scan_with_settings
from tasks.tools.siegfried import identify_files
from tasks.transfer.characterization import worth_characterizing

from .sip import Sip

VIRUS_CHECK = "virus check"
FORMAT_IDENTIFICATION = "format identification"
DIGEST = "message digest calculation"


def files_under(sip: Sip, folder: str, engine: Engine) -> list[File]:
    """The SIP's present File rows below ``folder`` (relative to the SIP, no slash).

    One query on the path prefix: a SIP of 10,000 objects has a handful of these.
    """
    prefix = folder.rstrip("/") + "/"
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(File)
                .where(
                    or_(col(File.sip_uuid) == sip.uuid, col(File.unit_uuid) == sip.uuid),
                    col(File.removed).is_(False),
                    col(File.current_path).startswith(prefix, autoescape=True),
                )
                .order_by(col(File.current_path))
            ).all()
        )


def unchecked(sip: Sip, folder: str, event_type: str, engine: Engine) -> list[File]:
    """Rows below ``folder`` that have no ``event_type`` event yet."""
    rows = files_under(sip, folder, engine)
    if not rows:
        return []
    with session_scope(engine) as s:
        done = set(
            s.exec(
                select(col(Event.file_uuid)).where(
                    col(Event.event_type) == event_type,
                    col(Event.file_uuid).in_([f.uuid for f in rows]),
                )
            ).all()
        )
    return [f for f in rows if f.uuid not in done]


def record_digests(rows: list[File], job: JobHandle) -> None:
    """*Assign checksums and file sizes*: the sha256 taken at registration, as events."""
    for row in rows:
        job.task(file_uuid=row.uuid, file_name=row.current_path, stdout=row.checksum or "")
        job.event(
            file_uuid=row.uuid,
            event_type=DIGEST,
            detail=digest_event_detail(row.checksum_type or "sha256"),
            outcome_note=row.checksum or "",
        )
    job.output = f"{len(rows)} files" if rows else "no new files"


def scan_rows(sip: Sip, rows: list[File], job: JobHandle) -> None:
    """ClamAV over the rows; a *virus check* event each; raise naming what is not clean."""
    if not rows:
        job.output = "no new files"
        return
    settings = get_settings()
    paths = {(sip.path / f.current_path).absolute(): f for f in rows}
    report = scan_with_settings(
        list(paths), settings, run_name=f"clamd-{os.getpid()}-{sip.uuid[:8]}"
    )
    bad: list[str] = []
    for outcome in report.outcomes:
        row = paths[outcome.path.absolute()]
        clean = outcome.state == CLEAN
        job.task(
            file_uuid=row.uuid,
            file_name=row.current_path,
            exit_code=0 if clean else 1,
            stdout="OK" if clean else "",
            stderr="" if clean else outcome.note,
        )
        job.event(
            file_uuid=row.uuid,
            event_type=VIRUS_CHECK,
            detail=report.event_detail,
            outcome=outcome.premis_outcome,
            outcome_note=outcome.note,
        )
        if outcome.state == INFECTED:
            bad.append(f"{row.current_path}: {outcome.signature} FOUND")
        elif not clean:
            bad.append(f"{row.current_path}: not scanned ({outcome.note})")
    job.output = "\n".join(bad) or f"{len(rows)} files clean"
    if bad:
        raise InvalidInput("virus scan failed: " + "; ".join(bad[:10]), details=bad)


def identify_rows(sip: Sip, rows: list[File], job: JobHandle, recorder: Recorder) -> None:
    """Siegfried over the rows: formats on the rows, a *format identification* event each."""
    if not rows:
        job.output = "no new files"
        return
    paths = {(sip.path / f.current_path): f for f in rows}
    report = identify_files(list(paths), workers=get_settings().worker_threads)
    changes = []
    for item in report.results:
        row = paths[Path(item.path)]
        changes.append(
            {
                "uuid": row.uuid,
                "puid": item.puid,
                "format_name": item.format_name,
                "format_version": item.format_version,
                "mime_type": item.mime,
            }
        )
        job.task(
            file_uuid=row.uuid,
            file_name=row.current_path,
            exit_code=0 if item.best else 1,
            stdout=item.note,
            stderr=item.warning or "",
        )
        job.event(
            file_uuid=row.uuid,
            event_type=FORMAT_IDENTIFICATION,
            detail=report.event_detail,
            outcome=item.premis_outcome,
            outcome_note=item.note,
        )
    recorder.update_files(changes)
    job.output = f"{len(changes)} files, Siegfried {report.tool_version}"


def characterize_rows(sip: Sip, rows: list[File], job: JobHandle, recorder: Recorder) -> None:
    """ExifTool/MediaInfo/ffprobe XML for the rows worth it (as the transfer does)."""
    todo = [f for f in rows if not f.characterization and worth_characterizing(f.mime_type)]
    if not todo:
        job.output = "nothing to characterize"
        return
    results = characterize_files(
        [(sip.path / f.current_path, f.mime_type) for f in todo],
        workers=get_settings().worker_threads,
    )
    changes = []
    for row, found in zip(todo, results, strict=True):
        for out in found.outputs:
            job.task(
                file_uuid=row.uuid,
                file_name=row.current_path,
                arguments=out.tool,
                exit_code=0 if out.outcome != "failed" else 1,
                stdout=out.outcome,
                stderr=out.note,
            )
        if found.xml_documents:
            changes.append({"uuid": row.uuid, "characterization": "\n".join(found.xml_documents)})
    recorder.update_files(changes)
    job.output = f"{len(changes)} of {len(todo)} files characterized"


@dataclass(frozen=True)
class CheckedFolder:
    """One of the two folders, with Archivematica's group, job names and link ids
    (the ids clients such as Enduro filter jobs on)."""

    group: str
    folder: str
    use: str
    jobs: dict[str, tuple[str, str | None]]  # step -> (job name, link uuid if known)
    scan_decision: tuple[str, str]  # (decision name, link uuid)

    def job(self, step: str) -> str:
        return self.jobs[step][0]

    def link(self, step: str) -> str | None:
        return self.jobs[step][1]


#: ``objects/submissionDocumentation`` (Archivematica step 28).
SUBMISSION_DOCUMENTATION = CheckedFolder(
    group="Process submission documentation",
    folder="objects/submissionDocumentation",
    use=FileUse.SUBMISSION_DOCUMENTATION,
    jobs={
        "move": ("Move submission documentation into objects directory", None),
        "uuids": ("Assign file UUIDs to submission documentation", None),
        "checksums": (
            "Assign checksums and file sizes to submissionDocumentation",
            "2a62f025-83ec-4f23-adb4-11d5da7ad8c2",
        ),
        "scan": (
            "Scan for viruses in submission documentation",
            "1ba589db-88d1-48cf-bb1a-a5f9d2b17378",
        ),
        "identify": ("Identify file format", "1dce8e21-7263-4cc4-aa59-968d9793b5f2"),
        "characterize": (
            "Characterize and extract metadata on submission documentation",
            "33d7ac55-291c-43ae-bb42-f599ef428325",
        ),
    },
    scan_decision=(
        "Do you want to scan for viruses in submission documentation?",
        "97a5ddc0-d4e0-43ac-a571-9722405a0a9b",
    ),
)
#: ``objects/metadata`` (Archivematica step 29).
METADATA = CheckedFolder(
    group="Process metadata directory",
    folder="objects/metadata",
    use=FileUse.METADATA,
    jobs={
        "move": (METADATA_MOVED_JOB, "e4b0c713-988a-4606-82ea-4b565936d9a7"),
        "uuids": ("Assign file UUIDs to metadata", "dc9d4991-aefa-4d7e-b7b5-84e3c4336e74"),
        "checksums": (
            "Assign checksums and file sizes to metadata",
            "b6b0fe37-aa26-40bd-8be8-d3acebf3ccf8",
        ),
        "scan": ("Scan for viruses in metadata", "8bc92801-4308-4e3b-885b-1a89fdcd3014"),
        "identify": (
            "Identify file format of metadata files",
            "b2444a6e-c626-4487-9abc-1556dd89a8ae",
        ),
        "characterize": (
            "Characterize and extract metadata on metadata files",
            "04493ab2-6cad-400d-8832-06941f121a96",
        ),
    },
    scan_decision=(
        "Do you want to scan for viruses in metadata?",
        "856d2d65-cd25-49fa-8da9-cabb78292894",
    ),
)
#: Asked once (in *Process submission documentation*), answering both folders.
IDENTIFY_DECISION = (
    "Do you want to perform file format identification?",
    "087d27be-c719-47d8-9bbb-9a7d8b609c44",
)
