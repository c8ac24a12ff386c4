"""Step 11 *Identify file format*: Siegfried (embedded) over every file, in one batch.

Each File row gets its PRONOM id, format name and version and MIME type; each
file gets a *format identification* event (``Positive`` with the PUID, or
``Not identified``) and a task row with Siegfried's answer.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from custos.models import File
from custos.recorder import JobHandle
from tasks.tools.siegfried import identify_files

from .common import YES_NO, TransferContext, microservice

GROUP = "Identify file format"
DECISION = "Do you want to perform file format identification?"
JOB = "Identify file format"


def identify_rows(ctx: TransferContext, job: JobHandle, rows: list[File]) -> None:
    """Identify File rows; record formats, tasks and events."""
    paths = {ctx.disk_path(f): f for f in rows}
    report = identify_files(list(paths), workers=ctx.settings.worker_threads)
    changes = []
    for item in report.results:
        row = paths[item.path]
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
            event_type="format identification",
            detail=report.event_detail,
            outcome=item.premis_outcome,
            outcome_note=item.note,
        )
    job.update_files(changes)
    job.output = f"{len(changes)} files, Siegfried {report.tool_version}"


def _identify(ctx: TransferContext) -> None:
    ctx.record(GROUP, "Move to select file ID tool")
    wanted = ctx.decide("identify_transfer", GROUP, DECISION, YES_NO)
    ctx.record(GROUP, "Determine which files to identify")
    if ctx.todo(JOB):
        with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
            if not wanted:
                job.output = "skipped (configuration)"
                return
            identify_rows(ctx, job, ctx.files())


identify_file_format = task(name=GROUP, cache_policy=NONE)(microservice(_identify))
