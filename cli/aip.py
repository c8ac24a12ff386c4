"""``custos aip``: list, show, download, verify, audit and reingest stored AIPs.

Runs against the same database as the server. ``show`` reads the AIP's METS from
the store (one file out of the archive) to count its files; ``download`` copies the
stored AIP out, verified, and never overwrites anything.

``verify``, ``audit`` and ``reingest`` start work, as clients of the running
``custos serve`` (``custos.runtime.client``): ``verify`` and ``audit`` submit the
``fixity-audit`` flow for the AIPs named and wait for their results in the
database (each check is a ``fixity check`` event and the package's last fixity,
like the scheduled audit); without a serve that flow runs here, in this process.
``reingest`` starts a reingest and, with ``--wait``, follows it to the end or to
its first decision (without a serve it then runs here; without either the command
says what to do).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col, select

from cli.common import JsonOption, WaitOption, cli_errors, emit, open_db, settings
from custos.aip_read import read_member
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.mets.read import read_mets
from custos.models import Event, Location, Package, PackageStatus, utcnow
from custos.runtime.client import Mode, work_backend

POLL_SECONDS = 0.25

app = typer.Typer(
    name="aip",
    help="Stored AIPs: list, show, download, verify, audit, reingest.",
    no_args_is_help=True,
)


def _package_dict(p: Package) -> dict[str, Any]:
    return {
        "uuid": p.uuid,
        "name": p.name,
        "type": p.package_type,
        "status": p.status,
        "location": p.location_uuid,
        "path": p.path,
        "size": p.size,
        "checksum": p.checksum,
        "compression": p.compression,
        "stored_at": p.stored_at,
        "last_fixity_at": p.last_fixity_at,
        "last_fixity_outcome": p.last_fixity_outcome,
    }


@app.command("list")
def list_aips(json_out: JsonOption = False) -> None:
    """List stored packages (AIPs and DIPs)."""
    with cli_errors(json_out):
        open_db(settings())
        with session_scope() as s:
            rows = [
                _package_dict(p) for p in s.exec(select(Package).order_by(col(Package.created_at)))
            ]
    table = Table("uuid", "type", "name", "status", "size", "last fixity")
    for r in rows:
        table.add_row(
            r["uuid"],
            r["type"],
            r["name"],
            str(r["status"]),
            str(r["size"]),
            str(r["last_fixity_outcome"] or "-"),
        )
    emit(json_out, rows, table)


def _stored_aip(uuid: str) -> tuple[Package, Location, Path]:
    """The STORED AIP ``uuid``, its location and its path in the store.

    Raises:
        NotFound: no stored AIP has that uuid.
    """
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        if pkg is None or pkg.package_type != "AIP" or pkg.status != PackageStatus.STORED:
            raise NotFound(f"no stored AIP {uuid}")
        loc = s.get(Location, pkg.location_uuid)
        if loc is None:
            raise NotFound(f"the location of AIP {uuid} is gone")
        s.expunge(pkg)
        s.expunge(loc)
    return pkg, loc, Path(loc.path) / pkg.path


def aip_details(uuid: str) -> dict[str, Any]:
    """What ``custos aip show`` reports: the package row, its location, and the
    number of files the AIP's METS describes (in all and by use)."""
    pkg, loc, path = _stored_aip(uuid)
    contents = read_mets(read_member(path, f"data/METS.{pkg.uuid}.xml"))
    by_use = Counter(str(f.get("use", "")) for f in contents.files.values())
    return _package_dict(pkg) | {
        "checksum_type": pkg.checksum_type,
        "location": {
            "uuid": loc.uuid,
            "purpose": str(loc.purpose),
            "path": loc.path,
            "description": loc.description,
        },
        "stored_path": str(path),
        "file_count": len(contents.files),
        "files_by_use": dict(sorted(by_use.items())),
        "mets_created": contents.createdate,
        "mets_modified": contents.lastmoddate or None,
    }


@app.command("show")
def show(uuid: str, json_out: JsonOption = False) -> None:
    """Show one stored AIP: location, size, checksum, last fixity, files in its METS."""
    with cli_errors(json_out):
        open_db(settings())
        info = aip_details(uuid)
    table = Table(show_header=False, box=None)
    uses = ", ".join(f"{n} {use}" for use, n in info["files_by_use"].items())
    for label, value in (
        ("uuid", info["uuid"]),
        ("name", info["name"]),
        ("status", info["status"]),
        ("location", f"{info['location']['uuid']} ({info['location']['path']})"),
        ("path", info["stored_path"]),
        ("size", f"{info['size']} bytes"),
        ("compression", info["compression"]),
        ("checksum", f"{info['checksum_type']} {info['checksum'] or '-'}"),
        ("stored", info["stored_at"]),
        (
            "last fixity",
            f"{info['last_fixity_outcome'] or 'never'} {info['last_fixity_at'] or ''}".rstrip(),
        ),
        ("files (METS)", f"{info['file_count']} ({uses})"),
    ):
        table.add_row(label, str(value))
    emit(json_out, info, table)


@app.command("download")
def download(
    uuid: str,
    dest: Annotated[
        Path, typer.Argument(help="A folder to copy the AIP into, or a new file/folder name.")
    ],
    json_out: JsonOption = False,
) -> None:
    """Copy a stored AIP out of the store (verified; an existing file is never
    overwritten)."""
    from tasks.aipstore import copy_out

    with cli_errors(json_out):
        open_db(settings())
        pkg, _, path = _stored_aip(uuid)
        target = dest / path.name if dest.is_dir() else dest
        copied = copy_out(path, target, expected_sha256=pkg.checksum)
    emit(
        json_out,
        {"uuid": uuid, "path": str(copied.path), "size": copied.size, "sha256": copied.sha256},
        f"{uuid} copied to {copied.path} ({copied.size} bytes)",
    )


@dataclass(frozen=True)
class Audited:
    """One AIP's fixity check as recorded: its outcome and problems."""

    uuid: str
    outcome: str
    problems: tuple[str, ...]


def _checked_since(uuids: list[str], since: datetime) -> bool:
    with session_scope() as s:
        for uuid in uuids:
            pkg = s.get(Package, uuid)
            if pkg is None or pkg.last_fixity_at is None or _naive(pkg.last_fixity_at) < since:
                return False
    return True


def _naive(value: datetime) -> datetime:
    """UTC without a zone (SQLite gives naive UTC, PostgreSQL aware times)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _audited(uuid: str) -> Audited:
    """The AIP's last fixity check, from its package row and its newest event."""
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        if pkg is None:
            raise NotFound(f"no stored AIP {uuid}")
        outcome = str(pkg.last_fixity_outcome or "")
        event = s.exec(
            select(Event)
            .where(col(Event.unit_uuid) == uuid, col(Event.event_type) == "fixity check")
            .order_by(col(Event.event_datetime).desc())
        ).first()
    problems: tuple[str, ...] = ()
    if outcome != "pass" and event is not None and event.outcome_note:
        problems = tuple(event.outcome_note.split("; "))
    return Audited(uuid, outcome, problems)


def run_audit(uuids: list[str]) -> list[Audited]:
    """Check ``uuids`` through the ``fixity-audit`` flow and wait for the results."""
    from cli.follow import interrupted, still_running
    from custos import dispatch

    if not uuids:
        return []
    with work_backend(settings(), wait=True, action="audit") as mode:
        since = _naive(utcnow())
        dispatch.submit("fixity-audit", uuids=uuids)
        running = still_running(mode)
        try:
            while True:
                busy = running()
                if _checked_since(uuids, since) or not busy:
                    break
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            raise interrupted("the audit", mode) from None
        if mode == Mode.INLINE:
            dispatch.inline_backend().wait_all()
    if not _checked_since(uuids, since):
        raise NotFound("the audit ended without checking every AIP (see the logs)")
    return [_audited(uuid) for uuid in uuids]


@app.command("verify")
def verify(uuid: str, json_out: JsonOption = False) -> None:
    """Verify one stored AIP now (exit code 1 when it fails)."""
    with cli_errors(json_out):
        open_db(settings())
        _stored_aip(uuid)
        (result,) = run_audit([uuid])
    emit(
        json_out,
        {"uuid": result.uuid, "outcome": result.outcome, "problems": list(result.problems)},
        f"{result.uuid}: {result.outcome}" + "".join(f"\n  {p}" for p in result.problems),
    )
    if result.outcome != "pass":
        raise typer.Exit(1)


@app.command("audit")
def audit(json_out: JsonOption = False) -> None:
    """Run the fixity audit over every stored AIP now."""
    with cli_errors(json_out):
        open_db(settings())
        with session_scope() as s:
            uuids = list(
                s.exec(
                    select(Package.uuid)
                    .where(
                        col(Package.package_type) == "AIP",
                        col(Package.status) == PackageStatus.STORED,
                    )
                    .order_by(col(Package.stored_at))
                ).all()
            )
        results = run_audit(uuids)
    failed = [r for r in results if r.outcome != "pass"]
    emit(
        json_out,
        [{"uuid": r.uuid, "outcome": r.outcome, "problems": list(r.problems)} for r in results],
        f"{len(results)} AIPs audited, {len(failed)} failed"
        + "".join(f"\n  {r.uuid}: {'; '.join(r.problems)}" for r in failed),
    )
    if failed:
        raise typer.Exit(1)


@app.command("reingest")
def reingest(
    uuid: str,
    reingest_type: Annotated[str, typer.Option("--type")] = "metadata",
    processing_config: Annotated[
        str | None,
        typer.Option(
            "--processing-config",
            help="Full reingest: the configuration to run with (default: the AIP's)",
        ),
    ] = None,
    wait: WaitOption = False,
    json_out: JsonOption = False,
) -> None:
    """Start a metadata, partial or full reingest of a stored AIP.

    A full reingest runs the AIP through a new transfer of type "Archivematica
    AIP"; its UUID is printed (the AIP keeps its own).
    """
    from cli.follow import follow, interrupted, report
    from custos.reingest import start_reingest

    with cli_errors(json_out):
        conf = settings()
        open_db(conf)
        if reingest_type not in ("metadata", "partial", "full"):
            raise InvalidInput(
                f"unknown reingest type {reingest_type!r}; use metadata, partial or full"
            )
        _stored_aip(uuid)
        if processing_config is not None:
            from custos.processing import named_path

            named_path(processing_config)  # refused before anything starts
        with work_backend(conf, wait=wait, action="run the reingest") as mode:
            unit = start_reingest(uuid, reingest_type, processing_config)  # type: ignore[arg-type]
            if wait:
                try:
                    result = follow(unit, mode, quiet=json_out)
                except KeyboardInterrupt:
                    raise interrupted(f"the reingest {unit}", mode) from None
    if wait:
        if json_out:
            emit(True, {"reingest_uuid": unit, "type": reingest_type, **result.as_json()})
        else:
            emit(False, None, "\n".join(report(result)))
        if result.failed:
            raise typer.Exit(2)
        return
    emit(
        json_out,
        {"reingest_uuid": unit, "type": reingest_type},
        f"reingest of {uuid} started ({reingest_type})"
        + (f": transfer {unit}" if unit != uuid else "")
        + (" (running in custos serve)" if mode == Mode.SERVED else ""),
    )
