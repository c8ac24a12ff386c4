"""Step 9 *Generate transfer structure report*: the directory tree as text.

Archivematica saves the tree of ``objects/`` (``directory_tree.txt``) in the
transfer's metadata, where it ends up in the AIP next to the other transfer
metadata. The report is optional (``transfer_structure_report``).
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from tasks.walk import scan_tree

from .common import YES_NO, TransferContext, display_path, microservice

GROUP = "Generate transfer structure report"


def directory_tree(root: Path) -> str:
    """An indented tree of ``root`` (names as stored: escapes for non-UTF-8 bytes)."""
    scan = scan_tree(root)
    lines = [display_path(root.name) + "/"]
    entries = sorted(
        [(p, True) for p in scan.directories] + [(p, False) for p in scan.files],
        key=lambda e: os.fsencode(e[0]),
    )
    for path, is_dir in entries:
        rel = path.relative_to(root)
        lines.append(
            "    " * (len(rel.parts) - 1)
            + "├── "
            + display_path(rel.name)
            + ("/" if is_dir else "")
        )
    return "\n".join(lines) + "\n"


def _report(ctx: TransferContext) -> None:
    ctx.record(GROUP, "Move to generate transfer tree")
    ctx.record(GROUP, "Move to processing directory")
    wanted = ctx.decide("transfer_structure_report", GROUP, GROUP, YES_NO)
    if wanted and ctx.todo("Save directory tree"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Save directory tree") as job:
            target = ctx.directory / "metadata" / "directory_tree.txt"
            target.write_text(directory_tree(ctx.directory / "objects"), encoding="utf-8")
            job.output = "metadata/directory_tree.txt"


structure_report = task(name=GROUP, cache_policy=NONE)(microservice(_report))
