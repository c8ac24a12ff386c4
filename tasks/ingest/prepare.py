"""SIP preparation steps before normalization and METS: compliance, rename, metadata.

Each function does one Archivematica job on a SIP and is safe to run again: a
re-run after a crash finds the work done (directory already renamed, files already
moved or registered) and changes nothing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlalchemy import delete, or_, update
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.fixity import hash_files
from custos.models import Event, EventAgent, File, FileUse, Unit, utcnow
from custos.recorder import JobHandle, Recorder
from custos.walk import TreeProblem, walk_files

from .sip import Sip, sip_files

_DERIVATIVE = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[^.]+$")
README = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>About this AIP</title></head>
<body>
<h1>Archival Information Package</h1>
<p>This package was made by Custos. It is a BagIt bag: <code>manifest-sha256.txt</code>
lists a SHA-256 checksum for every file under <code>data/</code>.</p>
<ul>
<li><code>data/METS.&lt;uuid&gt;.xml</code> describes every file (METS 1.12 with PREMIS 3:
formats, checksums, events, agents, rights) and the package's descriptive metadata.</li>
<li><code>data/objects/</code> holds the original files, the preservation copies next to them
(<code>&lt;name&gt;-&lt;uuid&gt;.&lt;ext&gt;</code>), <code>metadata/</code> and
<code>submissionDocumentation/</code>.</li>
<li><code>data/thumbnails/</code> holds small previews named by the original's UUID.</li>
</ul>
</body></html>
"""


def verify_compliance(sip: Sip) -> None:
    """A SIP needs an ``objects/`` directory; nothing else is required."""
    if not (sip.path / "objects").is_dir():
        raise InvalidInput(f"SIP {sip.name} has no objects/ directory", {"path": "objects"})


def rename_with_uuid(sip: Sip, recorder: Recorder) -> Sip:
    """Rename the SIP directory to ``<name>-<uuid>`` (a no-op when already named so)."""
    target = sip.path.with_name(sip.aip_name)
    if sip.path != target:
        if target.exists():
            raise InvalidInput(f"cannot rename SIP: {target.name} exists")
        sip.path.rename(target)
        with session_scope(recorder.engine) as s:
            s.execute(
                update(Unit)
                .where(col(Unit.uuid) == sip.uuid)
                .values(current_path=str(target), updated_at=utcnow())
            )
    return Sip(
        sip.uuid, sip.name, target, sip.processing_config, sip.transfer_uuid, sip.parent_uuid
    )


def _move_tree(sip: Sip, src_rel: str, dst_rel: str, recorder: Recorder) -> int:
    """Move ``src_rel`` (a folder of the SIP) under ``dst_rel`` and update File rows."""
    src, dst = sip.path / src_rel, sip.path / dst_rel
    if src.is_symlink():
        raise InvalidInput(
            f"{src_rel} is a symbolic link; links are never followed", {"path": src_rel}
        )
    moved = 0
    if src.is_dir():
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.replace(target)
            moved += 1
        shutil.rmtree(src, ignore_errors=True)
    changes = [
        {"uuid": f.uuid, "current_path": f"{dst_rel}/{f.current_path[len(src_rel) + 1 :]}"}
        for f in sip_files(sip.uuid, engine=recorder.engine)
        if f.current_path.startswith(f"{src_rel}/")
    ]
    recorder.update_files(changes)
    return moved


def move_submission_documentation(sip: Sip, recorder: Recorder) -> int:
    """``metadata/submissionDocumentation/`` -> ``objects/submissionDocumentation/``."""
    return _move_tree(
        sip, "metadata/submissionDocumentation", "objects/submissionDocumentation", recorder
    )


def move_metadata(sip: Sip, recorder: Recorder) -> int:
    """``metadata/`` -> ``objects/metadata/`` (where the AIP keeps it)."""
    return _move_tree(sip, "metadata", "objects/metadata", recorder)


def register_unlisted(sip: Sip, folder: str, use: str, job: JobHandle, recorder: Recorder) -> int:
    """Give files under ``folder`` that have no File row one, with its sha256 and size
    and an ``ingestion`` event (Assign file UUIDs to metadata / submission
    documentation); the *message digest calculation* events are the next job's.

    A symbolic link, FIFO, socket or device under ``folder`` fails the job naming it:
    nothing under it is followed or read, and nothing unchecked reaches the AIP.
    """
    root = sip.path / folder
    if not root.is_dir() or root.is_symlink():
        if root.is_symlink():
            raise InvalidInput(
                f"{folder} is a symbolic link; links are never followed", {"path": folder}
            )
        return 0
    problems: list[TreeProblem] = []
    present = list(walk_files(root, problems))
    if problems:
        named = [f"{p.path.relative_to(sip.path).as_posix()}: {p.kind}" for p in problems]
        raise InvalidInput(
            f"{folder} holds entries that are not files or folders, refused: "
            + "; ".join(named[:10]),
            {"refused": named},
        )
    listed = {f.current_path for f in sip_files(sip.uuid, engine=recorder.engine)}
    new = [p for p in present if p.relative_to(sip.path).as_posix() not in listed]
    if not new:
        return 0
    digests = hash_files(new, ("sha256",))
    rows = []
    for path in new:
        rel = path.relative_to(sip.path).as_posix()
        rows.append(
            {
                "unit_uuid": sip.uuid,
                "sip_uuid": sip.uuid,
                "original_path": rel,
                "current_path": rel,
                "size": digests[path].size,
                "checksum": digests[path].digests["sha256"],
                "checksum_type": "sha256",
                "use": use,
                "modified_at": utcnow(),
            }
        )
    uuids = recorder.add_files(rows)
    for file_uuid, row in zip(uuids, rows, strict=True):
        job.task(file_uuid=file_uuid, file_name=str(row["current_path"]))
        job.event(file_uuid=file_uuid, event_type="ingestion")
    return len(new)


def unprocessed_metadata(sip: Sip) -> list[str]:
    """Entries left in the SIP's ``metadata/`` after *Process metadata directory*.

    That step moves the folder into ``objects/``, where every file is checked; an
    entry found there later arrived afterwards and would reach the AIP unchecked.
    """
    root = sip.path / "metadata"
    if root.is_symlink():
        return ["metadata"]
    if not root.is_dir():
        return []
    problems: list[TreeProblem] = []
    found = [p.relative_to(sip.path).as_posix() for p in walk_files(root, problems)]
    return found + [p.path.relative_to(sip.path).as_posix() for p in problems]


def remove_unlinked_files(sip: Sip, recorder: Recorder) -> list[str]:
    """Delete derivatives under ``objects/`` that no File row describes (left by a crash
    between writing a derivative and recording it); returns what was removed.

    Only names a normalization writes (``<stem>-<uuid>.<ext>``, ``.partial-*``) are
    candidates: an unlisted original is never deleted.
    """
    listed = {f.current_path for f in sip_files(sip.uuid, engine=recorder.engine)}
    removed = []
    for path in sorted((sip.path / "objects").rglob("*")):
        rel = path.relative_to(sip.path).as_posix()
        derived = _DERIVATIVE.search(path.name) or path.name.startswith(".partial-")
        if path.is_file() and derived and rel not in listed:
            path.unlink()
            removed.append(rel)
    return removed


def add_readme(sip: Sip) -> Path:
    """Write ``README.html`` (what the AIP is and how to read it)."""
    path = sip.path / "README.html"
    path.write_text(README, encoding="utf-8")
    return path


DERIVATIVE_USES = (FileUse.PRESERVATION, FileUse.ACCESS, FileUse.THUMBNAIL)


def discard_derivatives(sip: Sip, recorder: Recorder) -> int:
    """Undo a normalization round (*Approve normalization* → *Redo*).

    Derivative files go from disk and their rows go from the database, with their
    events and the ``normalization`` events of the originals that name them: the
    METS then describes only the round that was approved, not copies that no longer
    exist. Manually normalized files (they came from ``manualNormalization/``) are the
    depositor's, not the round's: they are kept. Returns the number of derivatives
    discarded.
    """
    derivatives = [
        d
        for d in sip_files(sip.uuid, uses=DERIVATIVE_USES, engine=recorder.engine)
        if not d.original_path.startswith("objects/manualNormalization/")
    ]
    for d in derivatives:
        (sip.path / d.current_path).unlink(missing_ok=True)
    uuids = [d.uuid for d in derivatives]
    paths = [d.current_path for d in derivatives]
    with session_scope(recorder.engine) as s:
        events = (
            list(
                s.exec(
                    select(Event.uuid).where(
                        or_(
                            col(Event.file_uuid).in_(uuids),
                            (col(Event.event_type) == "normalization")
                            & col(Event.outcome_note).in_(paths),
                        ),
                        col(Event.unit_uuid) == sip.uuid,
                    )
                ).all()
            )
            if uuids
            else []
        )
        if events:
            s.execute(delete(EventAgent).where(col(EventAgent.event_uuid).in_(events)))
            s.execute(delete(Event).where(col(Event.uuid).in_(events)))
        if uuids:
            s.execute(delete(File).where(col(File.uuid).in_(uuids)))
    return len(derivatives)
