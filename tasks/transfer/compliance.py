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
from custos.faults import fault
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
#: Unit variables recording the progress of the two restartable moves below.
EXTRACT_KEY = "extract_transfer"
BAG_KEY = "restructure_bag"
TAGS = ("metadata", "submissionDocumentation", "bag")


def extract_transfer(ctx: TransferContext) -> ExtractResult | None:
    """Unpack the single package a zipped transfer arrived as, in place.

    Restartable at any instant, with its progress in the unit's variables
    (``EXTRACT_KEY``): the package's name is recorded first; it is extracted into
    ``.extracted`` (renamed into place only when complete), its payload (the single
    top folder, if any) is renamed to ``.extracted.payload``, the package is
    deleted, each payload entry moves to the transfer root, "moved" is recorded,
    and the empty payload folder is removed. A resumed run picks up at the step it
    reached: it never takes an extracted file for the package, nor the package for
    an extracted file. Returns the extraction (None when resuming past it).
    """
    root = ctx.directory
    result = None
    progress = dict((ctx.unit.variables or {}).get(EXTRACT_KEY) or {})
    with DirTree.open(root) as tree:
        found = dict(tree.entries())
        if not progress:
            packages = [n for n, st in found.items() if stat.S_ISREG(st.st_mode)]
            if len(packages) != 1:
                return None  # nothing to extract: compliance says what is wrong
            progress = {"package": packages[0]}
            ctx.set_variables(**{EXTRACT_KEY: progress})
        package = str(progress["package"])
        if progress.get("moved"):
            if PAYLOAD in found:
                os.rmdir(PAYLOAD, dir_fd=tree.fd)
            return None
        if PAYLOAD not in found:
            remove_leftovers(root)  # of an interrupted extraction
            if STAGING in found:
                shutil.rmtree(STAGING, dir_fd=tree.fd)
            limits = ExtractLimits.from_settings(ctx.settings)
            result = extract_package(
                root / package, limits=limits, destination=root / STAGING, recursive=False
            )
            fault("extract-transfer:extracted")
            _pick_payload(ctx, tree)
            fault("extract-transfer:payload")
        st = tree.lstat((package,))
        if st is not None and stat.S_ISREG(st.st_mode):
            os.unlink(package, dir_fd=tree.fd)
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
                fault("extract-transfer:moving")
        progress["moved"] = True
        ctx.set_variables(**{EXTRACT_KEY: progress})
        fault("extract-transfer:moved")
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

    Restartable at any instant: every root entry is first moved into the staging
    folder ``.bag`` and that is recorded (``BAG_KEY``: "staged", and whether the
    payload is an Archivematica structure); then the payload and the tags move out
    of ``.bag``, which is removed last. A resumed run finishes the phase it was in.
    """
    root = ctx.directory
    progress = dict((ctx.unit.variables or {}).get(BAG_KEY) or {})
    with DirTree.open(root) as tree:
        staging_left = _is_dir(tree, (".bag",))
        declared = tree.lstat(("bagit.txt",))
        if not staging_left and (declared is None or not stat.S_ISREG(declared.st_mode)):
            if (st := tree.lstat(("objects",))) is not None and stat.S_ISDIR(st.st_mode):
                return  # restructured by an earlier run
            raise InvalidInput("the bag has no bagit.txt")
    if not staging_left:
        refuse_links(root, "the bag")
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
            },
            **{BAG_KEY: {"nested": nested}},
        )
        progress = {"nested": nested}
    with DirTree.open(root) as tree:
        if not progress.get("staged"):
            if not staging_left:
                tree.mkdir_new((".bag",), 0o700)
            with tree.subtree((".bag",)) as staging:
                for name, _ in list(tree.entries()):
                    if name != ".bag":
                        _move(tree, name, staging, name)
                        fault("restructure-bag:staging")
            progress["staged"] = True
            ctx.set_variables(**{BAG_KEY: progress})
        with tree.subtree((".bag",)) as staging:
            if _is_dir(staging, ("data",)):
                if progress.get("nested"):
                    with staging.subtree(("data",)) as payload:
                        for name, _ in list(payload.entries()):
                            _move(payload, name, tree, name)
                    os.rmdir("data", dir_fd=staging.fd)
                else:
                    _move(staging, "data", tree, "objects")
            fault("restructure-bag:payload")
            with DirTree(os.dup(tree.dir_fd(TAGS, create=True))) as tags:
                for name, _ in list(staging.entries()):
                    _move(staging, name, tags, name)
                    fault("restructure-bag:tags")
        shutil.rmtree(".bag", dir_fd=tree.fd)
        fault("restructure-bag:done")


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
        fault("remove-hidden:removing")
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
            fault("restructure:moving")
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
            else:  # whole or absent: a crash mid-copy leaves only the staging name
                staging = target.with_name(f".{CONFIG_FILE}.copying")
                shutil.copyfile(named_path(ctx.unit.processing_config), staging)
                fault("compliance:config")
                os.replace(staging, target)
                job.output = f"copied {ctx.unit.processing_config}"


verify_compliance = task(name="Verify transfer compliance", cache_policy=NONE)(
    microservice(_compliance)
)
