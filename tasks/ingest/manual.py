"""Manual normalization: derivatives a user made, supplied with the transfer.

A transfer may carry ``manualNormalization/preservation/`` and
``manualNormalization/access/`` beside its objects (in the SIP:
``objects/manualNormalization/...``). Each file there is paired with the original
of the same relative path and name without extension (``manualNormalization/
preservation/maps/a.tif`` is the preservation copy of ``maps/a.<anything>``), as
Archivematica's ``manual_normalization_move.py`` does:

- a preservation file moves next to its original as ``<name>-<its uuid>.<ext>``,
  becomes a *preservation* file derived from the original, and the original gets a
  *normalization* event with eventDetail ``manual normalization`` whose note is the
  derivative's path (so the METS links the two, as for tool normalization);
- an access file moves into the DIP as ``DIP/objects/<original uuid>-<name>``,
  an *access* file derived from the original.

Automatic normalization then skips the originals that already have a derivative of
that purpose. A file that matches no original, or more than one, fails the SIP
naming it (Archivematica: "No matching file for" / "Too many possible files for").
Where names do not pair a file (no original, or several with that name),
``manualNormalization/normalization.csv`` may (rows ``original, access,
preservation``, paths under ``objects/``). The emptied ``manualNormalization``
folders are removed (*Remove empty manual normalization directories*).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import PurePosixPath

from custos.errors import InvalidInput
from custos.models import File, FileUse
from custos.recorder import JobHandle, Recorder

from .sip import Sip, is_content, sip_files

MANUAL_DIR = "objects/manualNormalization"
KINDS = {"preservation": FileUse.PRESERVATION, "access": FileUse.ACCESS}


def _key(rel: str) -> str:
    """A path without its extension: what a manual file and its original share."""
    path = PurePosixPath(rel)
    return (path.parent / path.stem).as_posix() if path.suffix else path.as_posix()


def manual_files(sip: Sip, recorder: Recorder) -> list[File]:
    """The SIP's files still waiting in ``objects/manualNormalization/<kind>/``."""
    out = []
    for f in sip_files(sip.uuid, uses=(FileUse.ORIGINAL,), engine=recorder.engine):
        parts = f.current_path.split("/")
        if len(parts) > 3 and parts[:2] == ["objects", "manualNormalization"] and parts[2] in KINDS:
            out.append(f)
    return out


def relate_manual_files(sip: Sip, job: JobHandle, recorder: Recorder) -> int:
    """Pair, move and record every manually normalized file; returns how many."""
    pending = manual_files(sip, recorder)
    if not pending:
        _remove_empty(sip)
        return 0
    originals: dict[str, list[File]] = {}
    for f in sip_files(sip.uuid, engine=recorder.engine):
        if is_content(f):
            originals.setdefault(_key(f.current_path.removeprefix("objects/")), []).append(f)
    problems = []
    moves: list[tuple[File, File, str]] = []
    pairs = normalization_csv(sip)
    for manual in pending:
        kind, rel = manual.current_path.removeprefix(f"{MANUAL_DIR}/").split("/", 1)
        matches = originals.get(_key(rel), [])
        named = pairs.get((kind, manual.current_path.removeprefix("objects/")))
        if len(matches) != 1 and named:
            matches = [
                f
                for group in originals.values()
                for f in group
                if f.current_path.removeprefix("objects/") == named
                or f.original_path.removeprefix("objects/") == named
            ]
        if len(matches) != 1:
            why = "No matching file for" if not matches else "Too many possible files for"
            problems.append(f"{why}: {manual.current_path}")
            continue
        moves.append((manual, matches[0], kind))
    if problems:
        raise InvalidInput("manual normalization: " + "; ".join(problems), details=problems)
    changes = []
    for manual, original, kind in moves:
        name = PurePosixPath(manual.current_path).name
        if kind == "preservation":
            stem, dot, ext = name.rpartition(".")
            new_name = f"{stem}-{manual.uuid}.{ext}" if dot else f"{name}-{manual.uuid}"
            target = (PurePosixPath(original.current_path).parent / new_name).as_posix()
        else:
            target = f"DIP/objects/{original.uuid}-{name}"
        dst = sip.path / target
        if dst.exists():
            raise InvalidInput(f"manual normalization: {target} already exists")
        dst.parent.mkdir(parents=True, exist_ok=True)
        (sip.path / manual.current_path).replace(dst)
        changes.append(
            {
                "uuid": manual.uuid,
                "current_path": target,
                "use": KINDS[kind],
                "derived_from": original.uuid,
            }
        )
        job.task(
            file_uuid=original.uuid,
            file_name=original.current_path,
            stdout=f"Matched original file {original.current_path} to {kind} file "
            f"{manual.current_path}; moved to {target}",
        )
        if kind == "preservation":
            job.event(
                file_uuid=original.uuid,
                event_type="normalization",
                detail="manual normalization",
                outcome_note=target,
            )
    recorder.update_files(changes)
    _remove_empty(sip)
    return len(moves)


SERVICE_DIR = "objects/service"


def relate_service_files(sip: Sip, job: JobHandle, recorder: Recorder) -> int:
    """*Check for Service directory*: each file of ``objects/service/`` becomes the
    *service* file of the original with its relative path and name without extension
    (it stays where it is; access copies are then made from it). Returns how many."""
    files = sip_files(sip.uuid, engine=recorder.engine)
    pending = [
        f
        for f in files
        if f.use == FileUse.ORIGINAL and f.current_path.startswith(f"{SERVICE_DIR}/")
    ]
    if not pending:
        return 0
    originals: dict[str, list[File]] = {}
    for f in files:
        if is_content(f):
            originals.setdefault(_key(f.current_path.removeprefix("objects/")), []).append(f)
    problems, changes = [], []
    for service in pending:
        matches = originals.get(_key(service.current_path.removeprefix(f"{SERVICE_DIR}/")), [])
        if len(matches) != 1:
            why = "No matching file for" if not matches else "Too many possible files for"
            problems.append(f"{why}: {service.current_path}")
            continue
        original = matches[0]
        changes.append(
            {"uuid": service.uuid, "use": FileUse.SERVICE, "derived_from": original.uuid}
        )
        job.task(
            file_uuid=original.uuid,
            file_name=original.current_path,
            stdout=f"service file {service.current_path}",
        )
    if problems:
        raise InvalidInput("service files: " + "; ".join(problems), details=problems)
    recorder.update_files(changes)
    return len(changes)


def service_sources(sip: Sip, recorder: Recorder) -> dict[str, File]:
    """Original uuid -> its service file (what access copies are made from)."""
    return {
        f.derived_from: f
        for f in sip_files(sip.uuid, uses=(FileUse.SERVICE,), engine=recorder.engine)
        if f.derived_from
    }


def normalization_csv(sip: Sip) -> dict[tuple[str, str], str]:
    """``objects/manualNormalization/normalization.csv``, Archivematica's explicit pairs:
    rows ``original, access, preservation`` (paths under ``objects/``; ``#`` starts a
    comment). Returns (kind, manual file path) -> original path; consulted when a
    manual file's name matches no original or several."""
    path = sip.path / MANUAL_DIR / "normalization.csv"
    if not path.is_file() or path.is_symlink():
        return {}
    pairs: dict[tuple[str, str], str] = {}
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"normalization.csv cannot be read: {exc}") from exc
    for number, row in enumerate(rows, start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 3:
            raise InvalidInput(
                f"normalization.csv line {number}: expected original, access, preservation"
            )
        original, access, preservation = (cell.strip() for cell in row)
        for kind, manual in (("access", access), ("preservation", preservation)):
            if manual:
                pairs[(kind, manual.removeprefix("objects/"))] = original.removeprefix("objects/")
    return pairs


def _remove_empty(sip: Sip) -> None:
    """*Remove empty manual normalization directories* (only when nothing is left)."""
    root = sip.path / MANUAL_DIR
    if root.is_dir() and not root.is_symlink() and not any(p.is_file() for p in root.rglob("*")):
        shutil.rmtree(root)
