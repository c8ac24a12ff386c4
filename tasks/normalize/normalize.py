"""Normalize a SIP's originals for one purpose, and validate the derivatives made.

Per original the policy names a command; the derivative is written where
Archivematica puts it (section 5.1 of the AIP layout):

- preservation: next to the original, ``<stem>-<derivative uuid>.<ext>``;
- access: ``DIP/objects/<original uuid>-<stem>.<ext>``;
- thumbnail: ``thumbnails/<original uuid>.jpg``.

Each derivative gets a File row (use, ``derived_from``, sha256, identified format).
Preservation derivatives, which go into the AIP and its METS, also get PREMIS events:
``normalization`` on the original (note: the derivative's path), ``creation``,
``message digest calculation`` and ``format identification`` on the derivative.
Originals that already have a derivative for the purpose are skipped, so a step
interrupted half-way finishes on re-run instead of duplicating work.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import ToolFailed
from custos.faults import fault
from custos.fixity import digest_event_detail, hash_files
from custos.format_policy import Command, Policy, Purpose
from custos.models import Event, File, new_uuid, utcnow
from custos.programs import pool_size
from custos.recorder import JobHandle
from custos.settings import get_settings
from tasks.tools.siegfried import identify_files

from ..ingest.sip import Sip, is_content, sip_files
from .runner import run_command, validate, version_of


@dataclass
class NormalizeReport:
    """What one normalization pass did (counts by outcome, failures by path)."""

    made: int = 0
    skipped: int = 0
    not_covered: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def derivative_path(
    original: File, purpose: Purpose, command: Command, derivative_uuid: str
) -> str:
    """Where the derivative goes, relative to the SIP directory."""
    rel = Path(original.current_path)
    if purpose is Purpose.PRESERVATION:
        return (rel.parent / f"{rel.stem}-{derivative_uuid}.{command.extension}").as_posix()
    if purpose is Purpose.ACCESS:
        return f"DIP/objects/{original.uuid}-{rel.stem}.{command.extension}"
    return f"thumbnails/{original.uuid}.{command.extension}"


def _remove_orphans(sip: Sip, todo: list[tuple[File, Command]], known: set[str]) -> None:
    """Delete the preservation derivatives a killed attempt made but never recorded
    (``<stem>-<uuid>.<ext>`` beside an original still to normalize, without a row);
    access copies and thumbnails have fixed names and are simply written again."""
    for original, command in todo:
        rel = Path(original.current_path)
        folder = sip.path / rel.parent
        made = re.compile(
            re.escape(rel.stem)
            + r"-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\."
            + re.escape(command.extension)
        )
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if made.fullmatch(path.name) and (rel.parent / path.name).as_posix() not in known:
                if path.is_file() and not path.is_symlink():
                    path.unlink()


def _existing(originals: list[str], purpose: Purpose, engine: Engine) -> set[str]:
    with session_scope(engine) as s:
        rows = s.exec(
            select(File.derived_from).where(
                col(File.derived_from).in_(originals),
                col(File.use) == purpose.value,
                col(File.removed).is_(False),
            )
        ).all()
        return {r for r in rows if r}


@dataclass(frozen=True)
class _Outcome:
    original: File
    derivative_uuid: str
    rel: str
    command: Command
    detail: str = ""
    error: str = ""
    stdout: str = ""
    args: str = ""


def _run_one(
    sip: Sip, original: File, purpose: Purpose, command: Command, source: File | None = None
) -> _Outcome:
    derivative_uuid = new_uuid()
    rel = derivative_path(original, purpose, command, derivative_uuid)
    read = source or original
    try:
        done = run_command(command, sip.path / read.current_path, sip.path / rel)
    except ToolFailed as exc:
        return _Outcome(
            original, derivative_uuid, rel, command, error=exc.stderr or str(exc), args=command.name
        )
    return _Outcome(
        original,
        derivative_uuid,
        rel,
        command,
        detail=done.detail,
        stdout=done.result.stdout[-4000:],
        args=" ".join(done.result.args),
    )


def normalize(
    sip: Sip,
    purpose: Purpose,
    job: JobHandle,
    policy: Policy,
    engine: Engine | None = None,
    sources: dict[str, File] | None = None,
) -> NormalizeReport:
    """Make the ``purpose`` derivatives of every original the policy covers.

    ``sources`` maps an original's uuid to the file its derivative is made from
    instead (its service file: *Normalize service files for access*); the command is
    then the one for that file's format. Failures become failed Task rows; raising on
    them is the caller's decision (``policy.on_failure``), so the job's tasks are
    always recorded first.
    """
    sources = sources or {}
    engine = engine or get_engine()
    report = NormalizeReport()
    originals = [f for f in sip_files(sip.uuid, engine=engine) if is_content(f)]
    done = _existing([f.uuid for f in originals], purpose, engine)
    todo: list[tuple[File, Command]] = []
    for f in originals:
        command = policy.command_for((sources.get(f.uuid) or f).puid, purpose)
        if f.uuid in done:
            report.skipped += 1
        elif command is None:
            report.not_covered += 1
        else:
            todo.append((f, command))
    if purpose is Purpose.PRESERVATION:
        _remove_orphans(sip, todo, {f.current_path for f in sip_files(sip.uuid, engine=engine)})
    # Every core: each command stages its output under a name of its own (``runner``).
    workers = pool_size(get_settings().worker_threads)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="normalize") as pool:
        outcomes = list(
            pool.map(lambda fc: _run_one(sip, fc[0], purpose, fc[1], sources.get(fc[0].uuid)), todo)
        )
    fault("normalize:made")
    made = [o for o in outcomes if not o.error]
    for o in outcomes:
        job.task(
            file_uuid=o.original.uuid,
            file_name=o.original.current_path,
            exit_code=1 if o.error else 0,
            arguments=o.args,
            stdout=o.stdout if not o.error else "",
            stderr=o.error[-4000:],
        )
        if o.error:
            report.failed[o.original.current_path] = (
                o.error.strip().splitlines()[-1:][0] if o.error.strip() else "failed"
            )
    _record_derivatives(sip, purpose, made, job)
    report.made = len(made)
    return report


def _record_derivatives(sip: Sip, purpose: Purpose, made: list[_Outcome], job: JobHandle) -> None:
    if not made:
        return
    paths = [sip.path / o.rel for o in made]
    digests = hash_files(paths, ("sha256",))
    identified = identify_files(paths)
    formats = identified.by_path()
    siegfried = identified.event_detail
    rows = []
    for o, path in zip(made, paths, strict=True):
        ident = formats.get(path)
        sha = digests[path].digests["sha256"]
        rows.append(
            {
                "uuid": o.derivative_uuid,
                "unit_uuid": sip.uuid,
                "sip_uuid": sip.uuid,
                "original_path": o.rel,
                "current_path": o.rel,
                "size": digests[path].size,
                "checksum": sha,
                "checksum_type": "sha256",
                "puid": ident.puid if ident else None,
                "format_name": ident.format_name if ident else None,
                "format_version": ident.format_version if ident else None,
                "mime_type": ident.mime if ident else None,
                "use": purpose.value,
                "derived_from": o.original.uuid,
                "modified_at": utcnow(),
            }
        )
    job.add_files(rows)  # with the job's completion: a crash before leaves no row
    if purpose is not Purpose.PRESERVATION:
        return
    for o, path in zip(made, paths, strict=True):
        ident = formats.get(path)
        job.event(
            file_uuid=o.original.uuid,
            event_type="normalization",
            detail=o.detail,
            outcome="",
            outcome_note=o.rel,
        )
        job.event(file_uuid=o.derivative_uuid, event_type="creation")
        job.event(
            file_uuid=o.derivative_uuid,
            event_type="message digest calculation",
            detail=digest_event_detail("sha256"),
            outcome_note=digests[path].digests["sha256"],
        )
        job.event(
            file_uuid=o.derivative_uuid,
            event_type="format identification",
            detail=siegfried,
            outcome=ident.premis_outcome if ident else "Not identified",
            outcome_note=ident.note if ident else "",
        )


def validate_derivatives(
    sip: Sip, purpose: Purpose, job: JobHandle, policy: Policy, engine: Engine | None = None
) -> dict[str, str]:
    """Validate the purpose's derivatives not validated yet; returns failures by path.

    Preservation derivatives get a ``validation`` event (pass/fail); access ones only
    Task rows, since they never enter the AIP's METS.
    """
    engine = engine or get_engine()
    derivatives = sip_files(sip.uuid, uses=(purpose.value,), engine=engine)
    with session_scope(engine) as s:
        validated = set(
            s.exec(
                select(Event.file_uuid).where(
                    col(Event.file_uuid).in_([d.uuid for d in derivatives]),
                    col(Event.event_type) == "validation",
                )
            ).all()
        )
    failures: dict[str, str] = {}
    todo = [
        (d, validator)
        for d in derivatives
        if d.uuid not in validated
        and (validator := policy.validators.get(Path(d.current_path).suffix.lstrip(".").lower()))
        is not None
    ]
    workers = pool_size(get_settings().worker_threads)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="validate") as pool:
        results = list(pool.map(lambda dv: validate(dv[1], sip.path / dv[0].current_path), todo))
    for (d, validator), result in zip(todo, results, strict=True):
        ok = result.ok and not result.stderr.strip()
        job.task(
            file_uuid=d.uuid,
            file_name=d.current_path,
            exit_code=0 if ok else 1,
            arguments=" ".join(result.args),
            stdout=result.stdout[-4000:],
            stderr=result.stderr[-4000:],
        )
        if purpose is Purpose.PRESERVATION:
            job.event(
                file_uuid=d.uuid,
                event_type="validation",
                detail=f'program="{validator.tool.name}"; version="{version_of(validator.tool)}"',
                outcome="pass" if ok else "fail",
                outcome_note=(result.stdout.strip() if ok else result.stderr.strip())[:500],
            )
        if not ok:
            failures[d.current_path] = (result.stderr.strip() or "invalid")[:500]
    return failures
