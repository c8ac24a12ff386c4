"""Step 10 *Change transfer filenames*: safe names for every object.

``tasks.sanitize.sanitize_tree`` renames bottom-up to ``A-Z a-z 0-9 - _ . ( )``
(accents transliterated, other characters and non-UTF-8 bytes become ``_``);
File rows follow their files and each renamed file gets a *filename change*
event whose note keeps the original name.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.recorder import JobHandle
from tasks.sanitize import sanitize_tree

from .common import TransferContext, display_path, microservice

GROUP = "Change transfer filenames"
JOB = "Change object and directory filenames"


def rename_objects(ctx: TransferContext, job: JobHandle, root: Path) -> int:
    """Sanitize names under ``root`` (inside the unit); update rows; return the count."""
    prefix = display_path(root.relative_to(ctx.directory)) + "/"
    renames = sanitize_tree(root)
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
    ctx.recorder.update_files(changes)
    return len(changes)


def _names(ctx: TransferContext) -> None:
    if ctx.todo(JOB):
        with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
            count = rename_objects(ctx, job, ctx.directory / "objects")
            job.output = f"{count} files renamed"
    ctx.record(GROUP, "Change transfer name")


change_filenames = task(name=GROUP, cache_policy=NONE)(microservice(_names))
