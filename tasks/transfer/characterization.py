"""Steps 13-15: characterization, validation, policy checks and content examination.

File modification dates are stored on the File rows. Characterization
(``tasks.tools.characterize``) keeps tool XML for every file (ExifTool; audio and
video also MediaInfo and ffprobe); validation (``tasks.tools.validate``) records a
*validation* event where a validator applies (``skipped: TOOL not installed`` when
it is missing), and nothing otherwise, as Archivematica does when no FPR rule applies.
Policy checks (MediaConch, ``tasks.tools.mediaconch``: *validation* events naming
the policy) and bulk_extractor (*Examine contents*) are decisions; Custos has no
bulk_extractor, so *Examine contents* Yes fails the transfer, naming it.
"""

from __future__ import annotations

import datetime as dt
import os

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import InvalidInput
from custos.models import File, FileUse, TransferType
from custos.recorder import JobHandle
from tasks.tools import mediaconch
from tasks.tools.characterize import characterize_files, tools_for
from tasks.tools.validate import record_validation, validate_files

from . import dataverse
from .common import YES_NO, TransferContext, microservice
from .metadata_imports import load_labels, load_premis_xml, load_rights

GROUP = "Characterize and extract metadata"


def worth_characterizing(mime: str | None) -> bool:
    """Whether a characterization tool applies: ExifTool reads every file (its type,
    size, encoding, line count for text), so every file is characterized; audio and
    video also get MediaInfo and ffprobe (``tasks.tools.characterize.tools_for``)."""
    return bool(tools_for(mime))


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
    load_rights(ctx)
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
    load_labels(ctx)
    load_premis_xml(ctx)
    if ctx.todo("Validate formats"):
        with ctx.recorder.job(ctx.uuid, "Validation", "Validate formats") as job:
            count = 0
            originals = [f for f in every if f.use == FileUse.ORIGINAL]
            validations = validate_files(
                [(ctx.disk_path(f), f.mime_type, f.puid) for f in originals],
                workers=ctx.settings.worker_threads,
            )
            for row, result in zip(originals, validations, strict=True):
                if result is None:
                    continue
                count += result.outcome != "skipped"
                record_validation(job, row, result)
            job.output = f"{count} files validated"
    is_dataverse = ctx.unit.transfer_type == TransferType.DATAVERSE
    ctx.record(
        "Parse external files",
        "Determine if Dataverse METS XML needs to be parsed",
        output="Yes" if is_dataverse else "No",
    )
    if is_dataverse and ctx.todo("Parse Dataverse METS XML"):
        with ctx.recorder.job(ctx.uuid, "Parse external files", "Parse Dataverse METS XML") as job:
            dataverse.verify(ctx, job)
    checks = ctx.decide(
        "policy_checks_originals", "Validation", "Perform policy checks on originals?", YES_NO
    )
    if checks and ctx.todo("Policy checks for originals"):
        with ctx.recorder.job(ctx.uuid, "Validation", "Policy checks for originals") as job:
            originals = [f for f in every if f.use == FileUse.ORIGINAL]
            ran, failed = mediaconch.record_checks(
                job,
                "originals",
                [(f, ctx.disk_path(f)) for f in originals],
                keep_policies=ctx.directory / "metadata" / "submissionDocumentation" / "policies",
                keep_reports=ctx.directory / "logs" / mediaconch.POLICY_REPORTS,
            )
            job.output = f"{ran} policy checks, {failed} failed"
    ctx.record("Examine contents", "Move to examine contents")
    examine = ctx.decide(
        "examine_contents",
        "Examine contents",
        "Examine contents?",
        # Yes needs bulk_extractor: not offered; preconfigured, it is refused below
        {False: "Skip examine contents"},
    )
    if examine and ctx.todo("Examine contents"):
        raise InvalidInput(
            "Examine contents: Yes needs bulk_extractor, which Custos does not run "
            '(it is not packaged for Debian); answer "Skip examine contents" or set '
            "Examine contents to No in the processing configuration"
        )
    ctx.record("Examine contents", "Check for specialized processing")


characterize = task(name=GROUP, cache_policy=NONE)(microservice(_characterize))
