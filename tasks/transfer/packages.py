"""Step 12 *Extract packages*: unpack zip/tar/7z objects found in the transfer.

Only when the transfer holds packages are the two decisions reached (*Extract
packages?*, *Delete package after extraction?*). Extraction goes through
``tasks.extract`` (members vetted before writing: zip-slip, colliding names, bombs
and limits refused; nested packages extracted too; nothing written outside the
destination). Links and special files inside packages are never created: each is
listed, with its reason, in the package's task output and in the outcome note of
the *unpacking* events of the files that came out of that package. Extracted files
become File rows with *unpacking* and *ingestion* events, get safe names,
checksums, a virus scan and format identification like the rest of the transfer.
"""

from __future__ import annotations

import datetime as dt
import shutil

from prefect import task
from prefect.cache_policies import NONE

from custos.faults import fault
from custos.models import File, TransferType
from custos.steps import CONFIGURED
from custos.walk import walk_files
from tasks.extract import (
    ExtractLimits,
    ExtractResult,
    default_destination,
    extract_package,
    package_kind,
    remove_leftovers,
)

from .common import YES_NO, TransferContext, display_path, from_display, microservice
from .formats import identify_rows
from .identifiers import checksum_files, register_files
from .names import rename_objects
from .virus import scan_rows

GROUP = "Extract packages"
#: Unit variable: the extraction's date (its folders' names) and the packages to delete.
PROGRESS_KEY = "extract_packages"
EXTRACT = "Extract contents from compressed archives"
_NOTE_ITEMS = 10


def find_packages(ctx: TransferContext) -> list[File]:
    """Objects that are packages we can extract (by extension and content)."""
    return [f for f in ctx.files(uses=["original"]) if package_kind(ctx.disk_path(f))]


def not_extracted_lines(ctx: TransferContext, result: ExtractResult) -> list[str]:
    """One line per link or special file left out: where it was, what it was."""
    return [
        f"not extracted: {display_path(n.package.relative_to(ctx.directory))}: {n}"
        for n in result.not_extracted
    ]


def unpacking_note(package: str, skipped: list[str]) -> str:
    """The *unpacking* event's outcome note: the source, and what was left out (capped)."""
    note = f"Unpacked from: {package}"
    if skipped:
        shown = [line.removeprefix("not extracted: ") for line in skipped[:_NOTE_ITEMS]]
        more = len(skipped) - len(shown)
        note += (
            "; not extracted (links and special files are never created): "
            + "; ".join(shown)
            + (f"; and {more} more (see the task output)" if more else "")
        )
    return note


def _delete_packages(ctx: TransferContext, progress: dict[str, object]) -> None:
    """Delete the extracted packages the completed job marked removed (again after a
    crash between its completion and the deletion)."""
    listed = progress.get("delete")
    if not isinstance(listed, list):
        return
    for rel in listed:
        path = ctx.directory / from_display(str(rel)).decode("utf-8", "surrogateescape")
        if path.is_file() and not path.is_symlink():
            path.unlink()


def _extract(ctx: TransferContext) -> None:
    ctx.record(GROUP, "Move to extract packages")
    packages = find_packages(ctx) if ctx.todo(EXTRACT) else []
    ctx.record(
        GROUP,
        "Determine if transfer contains packages",
        output=f"{len(packages)} packages" if packages else "No packages",
    )
    if not packages and ctx.todo("Extract packages?"):
        return
    # A DSpace transfer is its item zips: they are always extracted.
    dspace = ctx.unit.transfer_type == TransferType.DSPACE
    extract = ctx.decide(
        "extract_packages",
        GROUP,
        "Extract packages?",
        YES_NO,
        preset=True if dspace else CONFIGURED,
    )
    if not extract:
        return
    delete = ctx.decide("delete_packages", GROUP, "Delete package after extraction?", YES_NO)
    new_rows: list[File] = []
    left_packed: list[str] = []
    progress = dict((ctx.unit.variables or {}).get(PROGRESS_KEY) or {})
    extracted = False
    if ctx.todo(EXTRACT):
        # one date for every attempt, so a resumed run finds what a killed one left
        date = progress.get("date") or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%S")
        if "date" not in progress:
            progress = {"date": date}
            ctx.set_variables(**{PROGRESS_KEY: progress})
        with ctx.recorder.job(ctx.uuid, GROUP, EXTRACT) as job:
            limits = ExtractLimits.from_settings(ctx.settings)
            created: list[tuple[str, object]] = []
            not_extracted = 0
            for folder in sorted({ctx.disk_path(row).parent for row in packages}):
                remove_leftovers(folder)  # of a run interrupted while extracting
            for row in packages:  # what a killed attempt extracted is redone
                left = default_destination(ctx.disk_path(row), date)
                if left.is_dir() and not left.is_symlink():
                    shutil.rmtree(left)
            for row in packages:
                result = extract_package(
                    ctx.disk_path(row), limits=limits, date=date, delete=delete, keep_package=True
                )
                fault("extract-packages:extracted")
                rename_objects(ctx, job, result.destination)
                paths = list(walk_files(result.destination))
                made = register_files(ctx, paths, job)
                created += made
                new_rows += [
                    File(uuid=uuid, unit_uuid=ctx.uuid, original_path=rel, current_path=rel)
                    for uuid, rel in (
                        (u, display_path(p.relative_to(ctx.directory))) for u, p in made
                    )
                ]
                skipped = not_extracted_lines(ctx, result)
                note = unpacking_note(row.current_path, skipped)
                for uuid, _path in made:
                    job.event(
                        file_uuid=uuid,
                        event_type="unpacking",
                        detail=result.event_detail,
                        outcome_note=note,
                    )
                    job.event(file_uuid=uuid, event_type="ingestion")
                where = display_path(result.destination.relative_to(ctx.directory))
                summary = f"{len(made)} files extracted to {where}"
                job.task(
                    file_uuid=row.uuid,
                    file_name=row.current_path,
                    stdout="\n".join([summary, *skipped]),
                )
                not_extracted += len(skipped)
                left_packed += [str(p) for p in result.left_packed]
            checksum_files(ctx, job, new_rows)
            if delete:  # the packages go once the job is recorded (see _delete_packages)
                job.update_files([{"uuid": row.uuid, "removed": True} for row in packages])
                progress["delete"] = [row.current_path for row in packages]
                ctx.set_variables(**{PROGRESS_KEY: progress})
            fault("extract-packages:registered")
            job.output = f"{len(created)} files from {len(packages)} packages" + (
                f"; {not_extracted} links or special files not extracted" if not_extracted else ""
            )
        extracted = True
    if not ctx.todo(EXTRACT) or extracted:  # recorded: the packages may go
        _delete_packages(ctx, progress)
    scan = ctx.decide(
        "virus_scanning",
        GROUP,
        "Do you want to scan for viruses in extracted files?",
        YES_NO,
        link_uuid="1dad74a2-95df-4825-bbba-dca8b91d2371",
    )
    if scan and ctx.todo("Scan for viruses on extracted files"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Scan for viruses on extracted files") as job:
            scan_rows(ctx, job, new_rows or [f for f in ctx.files() if f.puid is None])
    if ctx.todo("Identify file format of extracted files"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Identify file format of extracted files") as job:
            if ctx.config.identify_transfer is not False:
                identify_rows(ctx, job, [f for f in ctx.files() if f.puid is None])
    ctx.record(
        GROUP,
        "Determine if transfer still contains packages",
        output=still_packed(ctx, left_packed),
    )


def still_packed(ctx: TransferContext, left_packed: list[str]) -> str:
    """*Determine if transfer still contains packages*, checked after extraction.

    Nested packages are extracted with their package (``tasks.extract``), so a
    package still in the transfer unextracted is one deliberately left packed, deeper
    than the nesting limit (the ``extract_max_depth`` setting). Each is named in the job's
    output; the transfer goes on with them as files.
    """
    remaining = sorted(
        {display_path(ctx.disk_path(f).relative_to(ctx.directory)) for f in find_packages(ctx)}
        - extracted_packages(ctx)
    )
    if not remaining:
        return "No"
    shown = ", ".join(remaining[:_NOTE_ITEMS]) + (" ..." if len(remaining) > _NOTE_ITEMS else "")
    why = f"; {len(left_packed)} deeper than the nesting limit" if left_packed else ""
    return f"Yes: {len(remaining)} packages kept as files ({shown}){why}"


def extracted_packages(ctx: TransferContext) -> set[str]:
    """Packages that were extracted: a ``<package name>-<date>`` folder sits beside each."""
    out = set()
    for f in find_packages(ctx):
        path = ctx.disk_path(f)
        if any(
            sibling.is_dir() and sibling.name.startswith(path.name + "-")
            for sibling in path.parent.iterdir()
        ):
            out.add(display_path(path.relative_to(ctx.directory)))
    return out


extract_packages = task(name=GROUP, cache_policy=NONE)(microservice(_extract))
