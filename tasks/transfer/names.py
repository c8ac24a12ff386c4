"""Step 10 *Change transfer filenames*: safe names for every object.

``tasks.sanitize.sanitize_tree`` renames bottom-up to ``A-Z a-z 0-9 - _ . ( )``
(accents transliterated, other characters and non-UTF-8 bytes become ``_``);
File rows follow their files and each renamed file gets a *filename change*
event whose note keeps the original name.

Restartable: the plan of renames is written to a journal beside the transfer's
folder (``.<folder>.renames.json``) before the first rename; a run killed part-way
replays it (skipping what was renamed), so the rows and events come out as in an
uninterrupted run. The rows and events are written with the job's completion, and
the journal is deleted after it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.faults import fault
from custos.recorder import JobHandle
from tasks.sanitize import sanitize_tree

from .common import TransferContext, display_path, microservice

GROUP = "Change transfer filenames"
JOB = "Change object and directory filenames"


def journal_path(ctx: TransferContext) -> Path:
    """Where the plan of renames is kept while the job runs."""
    return ctx.directory.with_name(f".{ctx.directory.name}.renames.json")


def rename_objects(
    ctx: TransferContext, job: JobHandle, root: Path, journal: Path | None = None
) -> int:
    """Sanitize names under ``root`` (inside the unit); update rows with the job;
    return the count."""
    prefix = display_path(root.relative_to(ctx.directory)) + "/"
    renames = sanitize_tree(root, journal)
    fault("sanitize:renamed")
    rows = {f.current_path: f for f in ctx.files()}
    changes = []
    for r in renames:
        if r.is_dir:
            continue
        row = rows.get(prefix + display_path(r.old))
        if row is None:
            continue
        new_path = prefix + r.new
        changes.append({"uuid": row.uuid, "current_path": new_path})
        job.event(
            file_uuid=row.uuid,
            event_type="filename change",
            detail='prohibited characters removed: program="change_names"',
            outcome_note=f'Original name="{prefix}{display_path(r.old)}"; new name="{new_path}"',
        )
    job.update_files(changes)
    return len(changes)


def _names(ctx: TransferContext) -> None:
    journal = journal_path(ctx)
    if ctx.todo(JOB):
        with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
            count = rename_objects(ctx, job, ctx.directory / "objects", journal)
            job.output = f"{count} files renamed"
    journal.unlink(missing_ok=True)  # recorded: the journal is no longer needed
    ctx.record(GROUP, "Change transfer name")


change_filenames = task(name=GROUP, cache_policy=NONE)(microservice(_names))
