"""Steps 2-4: make the copied transfer compliant, name it, give it its configuration.

Archivematica expects ``objects/`` (the material), ``metadata/`` and ``logs/`` at
the transfer root. Zipped transfers are extracted first (with the zip-slip and
zip-bomb guards of ``tasks.extract``), bags are validated and their payload
restructured, hidden and unneeded files are removed, loose material is moved
into ``objects/``, and the result is checked: no objects, or entries that are
not regular files or folders (symlinks, FIFOs ...), fail the transfer with the
offending paths named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.errors import InvalidInput
from custos.processing import named_path
from custos.transfers import BAG, STANDARD, ZIPFILE, ZIPPED_BAG
from tasks.bags import is_bag, validate_bag
from tasks.extract import ExtractLimits, extract_package
from tasks.walk import scan_tree

from .common import CONFIG_FILE, TransferContext, display_path, microservice

GROUP = "Verify transfer compliance"
ROOT_ENTRIES = {"objects", "metadata", "logs", CONFIG_FILE}
UNNEEDED = {"Thumbs.db", "thumbs.db", ".DS_Store", "desktop.ini", "Icon\r", "._.DS_Store"}
TYPE_LABELS = {STANDARD: "Standard", ZIPFILE: "Zipped", BAG: "Bag", ZIPPED_BAG: "Zipped bag"}


def extract_transfer(ctx: TransferContext) -> None:
    """Unpack the single package a zipped transfer arrived as, in place."""
    root = ctx.directory
    packages = [p for p in root.iterdir() if p.is_file()]
    if len(packages) != 1:
        return  # already extracted by an earlier run
    limits = ExtractLimits.from_settings(ctx.settings)
    staging = root / ".extracted"
    shutil.rmtree(staging, ignore_errors=True)
    extract_package(packages[0], limits=limits, destination=staging, recursive=False)
    entries = list(staging.iterdir())
    inner = staging
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        if ctx.unit.transfer_type != ZIPPED_BAG or is_bag(entries[0]):
            inner = entries[0]  # the usual single top folder
    for entry in inner.iterdir():
        entry.rename(root / entry.name)
    shutil.rmtree(staging)
    packages[0].unlink()


def restructure_bag(ctx: TransferContext) -> None:
    """Validate the bag, then move its payload to ``objects/`` and its tags to metadata."""
    root = ctx.directory
    if not (root / "bagit.txt").is_file():
        if (root / "objects").is_dir():
            return  # restructured by an earlier run
        raise InvalidInput("the bag has no bagit.txt")
    report = validate_bag(root, workers=ctx.settings.worker_threads)
    if not report.valid:
        problems = [p.message for p in report.problems]
        raise InvalidInput("bag is invalid: " + "; ".join(problems[:20]), details=problems)
    nested = (root / "data" / "objects").is_dir()
    ctx.set_variables(bag_fixity={
        "detail": report.event_detail,
        "files": [display_path(("" if nested else "objects/") + c.path.removeprefix("data/"))
                  for c in report.payload_checks]})
    staging = root / ".bag"
    staging.mkdir()
    for entry in root.iterdir():
        if entry != staging:
            entry.rename(staging / entry.name)
    payload = staging / "data"
    if (payload / "objects").is_dir():
        for entry in payload.iterdir():
            entry.rename(root / entry.name)
    else:
        payload.rename(root / "objects")
    tags = root / "metadata" / "submissionDocumentation" / "bag"
    tags.mkdir(parents=True, exist_ok=True)
    for entry in staging.iterdir():
        if entry.name != "data":
            entry.rename(tags / entry.name)
    shutil.rmtree(staging)


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
        listed = [f"{display_path(p.path.relative_to(root))}: {p.message}"
                  for p in scan.problems]
        raise InvalidInput("transfer holds entries that are not regular files or folders: "
                           + "; ".join(listed[:20]), details=listed)
    if not any(p.is_relative_to(root / "objects") for p in scan.files):
        raise InvalidInput("transfer has no objects: the folder is empty")


def _compliance(ctx: TransferContext) -> None:
    root = ctx.directory
    ttype = ctx.unit.transfer_type
    ctx.record(GROUP, "Move to processing directory")
    if ttype == ZIPFILE and ctx.todo("Extract zipped transfer"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Extract zipped transfer"):
            extract_transfer(ctx)
    if ttype == ZIPPED_BAG and ctx.todo("Extract zipped bag transfer"):
        with ctx.recorder.job(ctx.uuid, "Extract zipped bag transfer",
                              "Extract zipped bag transfer"):
            extract_transfer(ctx)
    if ttype in (BAG, ZIPPED_BAG) and ctx.todo("Verify bag, and restructure for compliance"):
        with ctx.recorder.job(ctx.uuid, "Verify bag, and restructure for compliance",
                              "Verify bag, and restructure for compliance"):
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
    ctx.record(GROUP, "Determine if Dataverse conversion needs to happen", output="No")
    if ctx.todo("Attempt restructure for compliance"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Attempt restructure for compliance") as job:
            moved = restructure(root)
            job.output = ("moved into objects/: " + ", ".join(moved)) if moved else None
    if ctx.todo("Verify transfer compliance"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Verify transfer compliance"):
            verify(root)
    ctx.record(GROUP, "Verify mets_structmap.xml compliance")
    ctx.record("Rename with transfer UUID", "Rename with transfer UUID",
               output=root.name)
    if ctx.todo("Include default Transfer processingMCP.xml"):
        with ctx.recorder.job(ctx.uuid, "Include default Transfer processingMCP.xml",
                              "Include default Transfer processingMCP.xml") as job:
            target = root / CONFIG_FILE
            if target.exists():
                job.output = "the transfer's own processingMCP.xml is kept"
            else:
                shutil.copyfile(named_path(ctx.unit.processing_config), target)
                job.output = f"copied {ctx.unit.processing_config}"


verify_compliance = task(name="Verify transfer compliance", cache_policy=NONE)(
    microservice(_compliance))
