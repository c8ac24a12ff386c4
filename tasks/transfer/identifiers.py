"""Step 5 *Assign file UUIDs and checksums*: File rows, ingestion events, digests.

Every file under ``objects/`` and ``metadata/`` becomes a File row (created
once: a resumed run only adds what is missing) with an *ingestion* event, a
*registration* event when the transfer has an accession number, and a *fixity
check* event for payload files a bag's manifest covered. Checksums are computed
in one read per file in a thread pool (``custos.fixity.hash_files``) with the
configured algorithm and written with bulk UPDATEs; a file the copy into processing
already hashed, unchanged since, keeps that digest instead of being read again
(``tasks.transfer.copy_digests``).
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from custos.fixity import digest_event_detail, hash_files
from custos.models import File, new_uuid, utcnow
from custos.recorder import JobHandle
from custos.walk import scan_tree

from . import copy_digests
from .common import YES_NO, TransferContext, display_path, file_use, microservice

GROUP = "Assign file UUIDs and checksums"


def register_files(
    ctx: TransferContext, paths: list[Path], job: JobHandle | None = None
) -> list[tuple[str, Path]]:
    """Create File rows for paths that have none yet: at once, or with ``job`` in the
    transaction that completes the job (a crash before it leaves no row).

    Returns ``(file uuid, path)`` for the rows created.
    """
    root = ctx.directory
    known = ctx.current_paths()
    rows, created = [], []
    now = utcnow()
    for path in paths:
        rel = display_path(path.relative_to(root))
        if rel in known:
            continue
        uuid = new_uuid()
        rows.append(
            {
                "uuid": uuid,
                "unit_uuid": ctx.uuid,
                "original_path": rel,
                "current_path": rel,
                "use": file_use(rel),
                "created_at": now,
            }
        )
        created.append((uuid, path))
    if job is not None:
        job.add_files(rows)
    else:
        ctx.recorder.add_files(rows)
    return created


def _assign_uuids(ctx: TransferContext) -> None:
    root = ctx.directory
    assign_dirs = ctx.decide(
        "assign_uuids_to_directories", GROUP, "Assign UUIDs to directories?", YES_NO
    )
    if ctx.todo("Assign UUIDs to directories"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Assign UUIDs to directories") as job:
            if assign_dirs:
                scan = scan_tree(root / "objects")
                dirs = {display_path(d.relative_to(root)): new_uuid() for d in scan.directories}
                ctx.set_variables(directory_uuids=dirs)
                job.output = f"{len(dirs)} directories"
            else:
                job.output = "not assigned (configuration)"
    if ctx.todo("Assign file UUIDs to objects"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Assign file UUIDs to objects") as job:
            paths = [
                p
                for p in scan_tree(root).files
                if p.relative_to(root).parts[0] in ("objects", "metadata")
            ]
            created = register_files(ctx, paths, job)
            bag = (ctx.unit.variables or {}).get("bag_fixity") or {}
            bag_files = set(bag.get("files", []))
            for uuid, path in created:
                rel = display_path(path.relative_to(root))
                job.event(file_uuid=uuid, event_type="ingestion")
                if ctx.unit.accession and rel.startswith("objects/"):
                    job.event(
                        file_uuid=uuid,
                        event_type="registration",
                        outcome_note=f"accession#{ctx.unit.accession}",
                    )
                if rel in bag_files:
                    job.event(
                        file_uuid=uuid,
                        event_type="fixity check",
                        detail=bag.get("detail", ""),
                        outcome="pass",
                    )
            job.output = f"{len(created)} files"
    if ctx.todo("Assign checksums and file sizes to objects"):
        with ctx.recorder.job(ctx.uuid, GROUP, "Assign checksums and file sizes to objects") as job:
            checksum_files(ctx, job)
        copy_digests.forget(ctx.uuid)


def checksum_files(ctx: TransferContext, job: JobHandle, rows: list[File] | None = None) -> None:
    """Hash File rows (those without a checksum by default); record digests and events."""
    algo = ctx.settings.checksum_algorithm
    todo = rows if rows is not None else [f for f in ctx.files() if f.checksum is None]
    paths = {ctx.disk_path(f): f for f in todo}
    found = {p: known for p in paths if (known := copy_digests.lookup(ctx.uuid, p, algo))}
    hashed = hash_files(
        [p for p in paths if p not in found], (algo,), workers=ctx.settings.worker_threads
    )
    found.update({p: (d.size, d.digests[algo]) for p, d in hashed.items()})
    detail = digest_event_detail(algo)
    changes = []
    for path, row in paths.items():
        size, value = found[path]
        changes.append({"uuid": row.uuid, "size": size, "checksum": value, "checksum_type": algo})
        job.event(
            file_uuid=row.uuid,
            event_type="message digest calculation",
            detail=detail,
            outcome_note=value,
        )
    job.update_files(changes)
    job.output = f"{len(changes)} files, {algo}"


assign_file_uuids = task(name=GROUP, cache_policy=NONE)(microservice(_assign_uuids))
