"""The transfer's first job: *Move to processing directory* (the copy into custody).

``custos.transfers.start_transfer`` only checks the source and records the unit, so
an API call or a command returns in milliseconds whatever the size; the copy is
this job, the first of Archivematica's *Verify transfer compliance* group, run by
the flow once the transfer is approved.

The source (a folder, or a package file) is copied into ``.<name>-<uuid>.copying``
beside the transfer's folder in the processing location, then renamed to
``<name>-<uuid>`` in one step, so the folder is either whole or absent. A run
interrupted mid-copy (process killed, machine restarted) leaves only the staging
folder, which the resumed run deletes before copying again. The source is only
read: links inside a folder are copied as links (never followed; compliance
refuses them), and special files (FIFOs, devices, sockets) are refused by name
instead of being opened. A source whose path passes through a link it did not have
when the transfer started (swapped in while it waited for approval) is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import InvalidInput, NotFound, StorageError
from custos.transfers import check_source
from tasks.safefs import rename_noreplace

from .common import TransferContext, display_path, microservice

GROUP = "Verify transfer compliance"
JOB = "Move to processing directory"


def staging_path(dest: Path) -> Path:
    """Where the copy is made before its one rename to ``dest``."""
    return dest.with_name(f".{dest.name}.copying")


@dataclass
class Copied:
    """What a copy brought in (for the job's output)."""

    files: int = 0
    size: int = 0


def source_of(ctx: TransferContext) -> Path:
    """The transfer's source, checked again now (it may have changed since it started)."""
    if not ctx.unit.source_path:
        raise NotFound(f"transfer {ctx.uuid} has no source to copy")
    src = Path(ctx.unit.source_path)
    if not src.exists() and not src.is_symlink():
        raise NotFound(f"the source {display_path(src)} no longer exists")
    if src.parent.resolve() != src.parent:
        raise InvalidInput(
            f"the source {display_path(src)} is now reached through a symbolic link; refused"
        )
    check_source(src, ctx.unit.transfer_type)
    return src


def copy_in(src: Path, dest: Path) -> Copied:
    """Copy ``src`` to ``dest`` (which must not exist) through the staging folder."""
    staging = staging_path(dest)
    _remove(staging)  # an interrupted copy is redone from the start
    copied = Copied()

    def copy_file(source: str, target: str) -> None:
        mode = os.lstat(source).st_mode
        if not stat.S_ISREG(mode):
            rel = os.path.relpath(source, src)
            raise InvalidInput(
                f"{display_path(rel)}: the source holds an entry that is not "
                "a regular file, folder or link; refused",
                details={"path": display_path(rel)},
            )
        shutil.copy2(source, target)
        copied.files += 1
        copied.size += os.stat(target).st_size

    try:
        if src.is_dir():
            shutil.copytree(src, staging, symlinks=True, copy_function=copy_file)
        else:
            staging.mkdir()
            copy_file(str(src), str(staging / src.name))
        parent = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            rename_noreplace(parent, staging.name, parent, dest.name)
        finally:
            os.close(parent)
    except (OSError, shutil.Error) as exc:
        _remove(staging)
        raise StorageError(f"cannot copy {display_path(src)} into processing: {exc}") from exc
    except BaseException:
        _remove(staging)
        raise
    return copied


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _move_to_processing(ctx: TransferContext) -> None:
    if not ctx.todo(JOB):
        return
    with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
        dest = ctx.directory
        if dest.exists() or dest.is_symlink():  # copied by a run that stopped just after
            job.output = f"{dest.name} was already in processing"
            return
        copied = copy_in(source_of(ctx), dest)
        job.output = (
            f"{copied.files} files ({copied.size} bytes) copied from "
            f"{display_path(ctx.unit.source_path or '')}"
        )


move_to_processing = task(name=JOB, cache_policy=NONE)(microservice(_move_to_processing))
