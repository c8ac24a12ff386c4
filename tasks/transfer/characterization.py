"""Steps 13-15: characterization, validation, policy checks and content examination.

File modification dates are stored on the File rows. Characterization
(``tasks.tools.characterize``) keeps tool XML for images, audio, video and PDF;
validation (``tasks.tools.validate``) records a *validation* event where a validator
applies, and nothing otherwise, as Archivematica does when no FPR rule applies.
Policy checks and bulk_extractor (*Examine contents*) are decisions; without
the tool the job says it skipped.
"""

from __future__ import annotations

import datetime as dt
import os

from prefect import task
from prefect.cache_policies import NONE

from custos.models import File, FileUse
from custos.recorder import JobHandle
from tasks.tools.characterize import characterize_files
from tasks.tools.validate import validate_file

from .common import YES_NO, TransferContext, microservice

GROUP = "Characterize and extract metadata"


def worth_characterizing(mime: str | None) -> bool:
    """Images, audio, video and PDF get ExifTool/MediaInfo/ffprobe; plain data does not.

    Running ExifTool (~0.1 s per call) over every text file would dominate a
    transfer of many small files and add nothing a METS reader needs.
    """
    family = (mime or "").split("/", 1)[0]
    return family in {"image", "audio", "video"} or mime == "application/pdf"


def store_modification_dates(
    ctx: TransferContext, job: JobHandle, rows: list[File] | None = None
) -> int:
    """Copy each file's mtime onto its row (with the job); ``rows`` defaults to every
    file."""
    changes = []
    for row in ctx.files() if rows is None else rows:
        mtime = os.stat(ctx.disk_path(row)).st_mtime
        changes.append({"uuid": row.uuid, "modified_at": dt.datetime.fromtimestamp(mtime, dt.UTC)})
    job.update_files(changes)
    return len(changes)


def _characterize(ctx: TransferContext) -> None:
    # One load of the File rows for the three per-file jobs below: none of them
    # changes what the others read (path, MIME type, PUID, use).
    every = ctx.files()
    if ctx.todo("Store file modification dates"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Store file modification dates") as job:
            job.output = f"{store_modification_dates(ctx, job, every)} files"
    ctx.record(GROUP, "Load rights", output="no metadata/rights.csv")
    if ctx.todo("Characterize and extract metadata"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Characterize and extract metadata") as job:
            rows = [f for f in every if worth_characterizing(f.mime_type)]
            results = characterize_files(
                [(ctx.disk_path(f), f.mime_type) for f in rows], workers=ctx.settings.worker_threads
            )
            changes = []
            for row, found in zip(rows, results, strict=True):
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
                    changes.append(
                        {"uuid": row.uuid, "characterization": "\n".join(found.xml_documents)}
                    )
            job.update_files(changes)
            job.output = f"{len(changes)} of {len(rows)} files characterized"
    ctx.record(GROUP, "Load labels from metadata/file_labels.csv")
    ctx.record(GROUP, "Load PREMIS events from metadata/premis.xml")
    if ctx.todo("Validate formats"):
        with ctx.recorder.job(ctx.uuid, "Validation", "Validate formats") as job:
            count = 0
            for row in (f for f in every if f.use == FileUse.ORIGINAL):
                result = validate_file(ctx.disk_path(row), mime=row.mime_type, puid=row.puid)
                if result is None or result.outcome == "skipped":
                    continue
                count += 1
                job.task(
                    file_uuid=row.uuid,
                    file_name=row.current_path,
                    arguments=result.program,
                    exit_code=0 if result.outcome == "pass" else 1,
                    stdout=result.note,
                )
                job.event(
                    file_uuid=row.uuid,
                    event_type="validation",
                    detail=result.event_detail,
                    outcome=result.outcome,
                    outcome_note=result.note,
                )
            job.output = f"{count} files validated"
    ctx.record(
        "Parse external files", "Determine if Dataverse METS XML needs to be parsed", output="No"
    )
    checks = ctx.decide(
        "policy_checks_originals", "Validation", "Perform policy checks on originals?", YES_NO
    )
    if checks:
        ctx.record("Validation", "Policy checks for originals", output="no policies defined")
    ctx.record("Examine contents", "Move to examine contents")
    examine = ctx.decide(
        "examine_contents",
        "Examine contents",
        "Examine contents?",
        {True: "Examine contents", False: "Skip examine contents"},
    )
    if examine and ctx.todo("Examine contents"):
        ctx.record(
            "Examine contents",
            "Examine contents",
            output="bulk_extractor is not installed: skipped",
        )
    ctx.record("Examine contents", "Check for specialized processing")


characterize = task(name=GROUP, cache_policy=NONE)(microservice(_characterize))
