"""Steps 2-4: make the copied transfer compliant, name it, give it its configuration.

Archivematica expects ``objects/`` (the material), ``metadata/`` and ``logs/`` at
the transfer root. Zipped transfers are extracted first (``tasks.extract``:
nothing is written outside the transfer, links and special files in the package
are listed as not extracted, unsafe or colliding names fail the transfer naming
the member), bags are refused if they hold a link anywhere, then validated and
their payload restructured with renames relative to open folders, hidden and
unneeded files are removed, loose material is moved into ``objects/``, and the
result is checked: no objects, or entries that are not regular files or folders
(symlinks, FIFOs ...), fail the transfer with the offending paths named.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.bag_check import validate_bag
from custos.errors import InvalidInput
from custos.processing import named_path
from custos.recorder import JobHandle
from custos.sniff import is_bag
from custos.transfers import BAG, DATAVERSE, DSPACE, STANDARD, ZIPFILE, ZIPPED_BAG
from custos.walk import scan_tree
from tasks.extract import ExtractLimits, ExtractResult, extract_package, remove_leftovers
from tasks.safefs import DirTree, UnsafePath, rename_noreplace

from . import dataverse
from .common import CONFIG_FILE, TransferContext, display_path, microservice
from .metadata_imports import verify_structmap

GROUP = "Verify transfer compliance"
ROOT_ENTRIES = {"objects", "metadata", "logs", CONFIG_FILE}
UNNEEDED = {"Thumbs.db", "thumbs.db", ".DS_Store", "desktop.ini", "Icon\r", "._.DS_Store"}
TYPE_LABELS = {
    STANDARD: "Standard",
    ZIPFILE: "Zipped",
    BAG: "Bag",
    ZIPPED_BAG: "Zipped bag",
    DSPACE: "DSpace",
    DATAVERSE: "Dataverse",
}
STAGING = ".extracted"
PAYLOAD = ".extracted.payload"
TAGS = ("metadata", "submissionDocumentation", "bag")


def extract_transfer(ctx: TransferContext) -> ExtractResult | None:
    """Unpack the single package a zipped transfer arrived as, in place.

    Resumable: the package is extracted into ``.extracted`` (renamed into place only
    when complete), its payload (the single top folder, if any) is renamed to
    ``.extracted.payload``, the package is removed, then each payload entry moves to
    the transfer root. A run that was interrupted picks up at the step it reached.
    Returns the extraction (None when resuming past it).
    """
    root = ctx.directory
    result = None
    with DirTree.open(root) as tree:
        found = dict(tree.entries())
        packages = [n for n, st in found.items() if stat.S_ISREG(st.st_mode)]
        if len(packages) == 1 and PAYLOAD not in found:
            remove_leftovers(root)  # of an interrupted extraction
            if STAGING in found:
                shutil.rmtree(STAGING, dir_fd=tree.fd)
            limits = ExtractLimits.from_settings(ctx.settings)
            result = extract_package(
                root / packages[0], limits=limits, destination=root / STAGING, recursive=False
            )
            _pick_payload(ctx, tree)
            os.unlink(packages[0], dir_fd=tree.fd)
        if (st := tree.lstat((PAYLOAD,))) is not None and stat.S_ISDIR(st.st_mode):
            with tree.subtree((PAYLOAD,)) as payload:
                for name, _ in list(payload.entries()):
                    try:
                        rename_noreplace(payload.fd, name, tree.fd, name)
                    except FileExistsError as exc:
                        raise InvalidInput(
                            f"{display_path(name)}: the package holds a name the transfer "
                            "already uses; refused",
                            details={"member": display_path(name)},
                        ) from exc
            os.rmdir(PAYLOAD, dir_fd=tree.fd)
    return result


def _pick_payload(ctx: TransferContext, tree: DirTree) -> None:
    """Rename the extraction's payload (its single top folder, if any) to PAYLOAD."""
    with tree.subtree((STAGING,)) as staged:
        entries = list(staged.entries())
    if len(entries) == 1 and stat.S_ISDIR(entries[0][1].st_mode):
        top = entries[0][0]
        if ctx.unit.transfer_type != ZIPPED_BAG or is_bag(ctx.directory / STAGING / top):
            with tree.subtree((STAGING,)) as staged:
                rename_noreplace(staged.fd, top, tree.fd, PAYLOAD)
            os.rmdir(STAGING, dir_fd=tree.fd)
            return
    rename_noreplace(tree.fd, STAGING, tree.fd, PAYLOAD)


def refuse_links(root: Path, what: str) -> None:
    """Refuse a tree holding links or special files, naming them (none is followed)."""
    problems = scan_tree(root).problems
    if problems:
        listed = [f"{display_path(p.path.relative_to(root))}: {p.message}" for p in problems]
        raise InvalidInput(
            f"{what} holds entries that are not regular files or folders "
            "(never followed): " + "; ".join(listed[:20]),
            details=listed,
        )


def restructure_bag(ctx: TransferContext) -> None:
    """Validate the bag, then move its payload to ``objects/`` and its tags to metadata.

    A bag holding a link or special file anywhere is refused before anything in it is
    read, so neither validation nor the moves can follow one out of the bag; the moves
    are renames relative to open folders that never replace an existing name.
    """
    root = ctx.directory
    refuse_links(root, "the bag")
    with DirTree.open(root) as tree:
        declared = tree.lstat(("bagit.txt",))
        if declared is None or not stat.S_ISREG(declared.st_mode):
            if (st := tree.lstat(("objects",))) is not None and stat.S_ISDIR(st.st_mode):
                return  # restructured by an earlier run
            raise InvalidInput("the bag has no bagit.txt")
    report = validate_bag(root, workers=ctx.settings.worker_threads)
    if not report.valid:
        problems = [p.message for p in report.problems]
        raise InvalidInput("bag is invalid: " + "; ".join(problems[:20]), details=problems)
    with DirTree.open(root) as tree:
        nested = _is_dir(tree, ("data", "objects"))
        ctx.set_variables(
            bag_fixity={
                "detail": report.event_detail,
                "files": [
                    display_path(("" if nested else "objects/") + c.path.removeprefix("data/"))
                    for c in report.payload_checks
                ],
            }
        )
        tree.mkdir_new((".bag",), 0o700)
        with tree.subtree((".bag",)) as staging:
            for name, _ in list(tree.entries()):
                if name != ".bag":
                    _move(tree, name, staging, name)
            if nested:
                with staging.subtree(("data",)) as payload:
                    for name, _ in list(payload.entries()):
                        _move(payload, name, tree, name)
            else:
                _move(staging, "data", tree, "objects")
            with DirTree(os.dup(tree.dir_fd(TAGS, create=True))) as tags:
                for name, _ in list(staging.entries()):
                    if name != "data":
                        _move(staging, name, tags, name)
        shutil.rmtree(".bag", dir_fd=tree.fd)


def _is_dir(tree: DirTree, parts: tuple[str, ...]) -> bool:
    try:
        st = tree.lstat(parts)
    except UnsafePath:
        return False
    return st is not None and stat.S_ISDIR(st.st_mode)


def _move(src: DirTree, name: str, dst: DirTree, target: str) -> None:
    try:
        rename_noreplace(src.fd, name, dst.fd, target)
    except OSError as exc:
        raise InvalidInput(
            f"cannot restructure the bag: {display_path(target)} ({exc.strerror})",
            details={"path": display_path(target)},
        ) from exc


def remove_hidden(root: Path) -> list[str]:
    """Remove files and folders whose names start with a dot; returns what went."""
    removed = []
    for path in sorted(root.rglob(".*"), key=lambda p: len(p.parts), reverse=True):
        if path.name == ".extracted" or not path.exists() and not path.is_symlink():
            continue
        removed.append(display_path(path.relative_to(root)))
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def remove_unneeded(root: Path) -> list[str]:
    """Remove operating-system clutter (Thumbs.db, desktop.ini ...)."""
    removed = []
    for path in sorted(root.rglob("*")):
        if path.name in UNNEEDED and (path.is_file() or path.is_symlink()):
            removed.append(display_path(path.relative_to(root)))
            path.unlink()
    return removed


def restructure(root: Path) -> list[str]:
    """Move everything that is not objects/metadata/logs into ``objects/``."""
    objects = root / "objects"
    objects.mkdir(exist_ok=True)
    moved = []
    for entry in sorted(root.iterdir()):
        if entry.name not in ROOT_ENTRIES:
            target = objects / entry.name
            if target.exists():
                raise InvalidInput(f"cannot restructure: objects/{entry.name} already exists")
            entry.rename(target)
            moved.append(display_path(entry.name))
    for name in ("metadata", "logs", "metadata/submissionDocumentation"):
        (root / name).mkdir(exist_ok=True)
    return moved


def verify(root: Path) -> None:
    """Refuse transfers without objects or with entries we cannot preserve."""
    scan = scan_tree(root)
    if scan.problems:
        listed = [f"{display_path(p.path.relative_to(root))}: {p.message}" for p in scan.problems]
        raise InvalidInput(
            "transfer holds entries that are not regular files or folders: "
            + "; ".join(listed[:20]),
            details=listed,
        )
    if not any(p.is_relative_to(root / "objects") for p in scan.files):
        raise InvalidInput("transfer has no objects: the folder is empty")


def _report_extraction(job: JobHandle, result: ExtractResult | None) -> None:
    """The zipped transfer's extraction in the job output and one task row."""
    if result is None:
        job.output = "resumed: the package was extracted by an earlier run"
        return
    lines = [f"{len(result.files)} files extracted from {display_path(result.package.name)}"]
    lines += [f"not extracted: {n}" for n in result.not_extracted]
    job.task(file_name=display_path(result.package.name), stdout="\n".join(lines))
    job.output = lines[0] + (
        f"; {len(result.not_extracted)} links or special files not extracted"
        if result.not_extracted
        else ""
    )


def _compliance(ctx: TransferContext) -> None:
    root = ctx.directory
    ttype = ctx.unit.transfer_type
    ctx.record(GROUP, "Move to processing directory")
    if ttype == ZIPFILE and ctx.todo("Extract zipped transfer"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Extract zipped transfer") as job:
            _report_extraction(job, extract_transfer(ctx))
    if ttype == ZIPPED_BAG and ctx.todo("Extract zipped bag transfer"):
        with ctx.recorder.job(
            ctx.uuid, "Extract zipped bag transfer", "Extract zipped bag transfer"
        ) as job:
            _report_extraction(job, extract_transfer(ctx))
    if ttype in (BAG, ZIPPED_BAG) and ctx.todo("Verify bag, and restructure for compliance"):
        with ctx.recorder.job(
            ctx.uuid,
            "Verify bag, and restructure for compliance",
            "Verify bag, and restructure for compliance",
        ):
            restructure_bag(ctx)
    ctx.record(GROUP, f"Set transfer type: {TYPE_LABELS.get(ttype, ttype)}")
    if ctx.todo("Remove hidden files and directories"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Remove hidden files and directories") as job:
            removed = remove_hidden(root)
            job.output = "\n".join(removed) or None
    if ctx.todo("Remove unneeded files"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Remove unneeded files") as job:
            for rel in remove_unneeded(root):
                job.task(file_name=rel, stdout=f"removed {rel}")
    dataverse_transfer = ttype == DATAVERSE
    ctx.record(
        GROUP,
        "Determine if Dataverse conversion needs to happen",
        output="Yes" if dataverse_transfer else "No",
    )
    if dataverse_transfer and ctx.todo("Convert Dataverse structure"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Convert Dataverse structure") as job:
            dataverse.convert(ctx, job)
    if ctx.todo("Attempt restructure for compliance"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Attempt restructure for compliance") as job:
            moved = restructure(root)
            job.output = ("moved into objects/: " + ", ".join(moved)) if moved else None
    if ctx.todo("Verify transfer compliance"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Verify transfer compliance"):
            verify(root)
    verify_structmap(ctx)
    ctx.record("Rename with transfer UUID", "Rename with transfer UUID", output=root.name)
    if ctx.todo("Include default Transfer processingMCP.xml"):
        with ctx.recorder.job(
            ctx.uuid,
            "Include default Transfer processingMCP.xml",
            "Include default Transfer processingMCP.xml",
        ) as job:
            target = root / CONFIG_FILE
            if target.exists():
                job.output = "the transfer's own processingMCP.xml is kept"
            else:
                shutil.copyfile(named_path(ctx.unit.processing_config), target)
                job.output = f"copied {ctx.unit.processing_config}"


verify_compliance = task(name="Verify transfer compliance", cache_policy=NONE)(
    microservice(_compliance)
)
