"""Reingest steps: unpack the stored AIP into processing and read its METS into rows.

The SIP directory is rebuilt from the bag's ``data/`` (objects, thumbnails, logs,
README, the old METS), File rows come back from the METS with their recorded
checksums (so bagging does not hash unchanged files again), their events and
agents are restored, and each file gets a ``reingestion`` event.

Reading the METS back is idempotent. The rows it describes may already be in the
database: the transfer's File rows and events (they belong to the transfer unit and
survive a reingest), and whatever an interrupted earlier attempt wrote. Files that
exist are updated, events that exist are left alone, and a file that already got its
``reingestion`` event in this round does not get another.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NONE
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.faults import fault
from custos.mets.read import METSContents, original_path, read_mets
from custos.models import Event, File, Location, LocationPurpose, Package, Unit, utcnow
from custos.recorder import AgentSpec, JobHandle, Recorder
from custos.steps import StepContext, step
from custos.storage import default_location, processing_directory
from tasks.tools.compress import extract_aip

GROUP = "Reingest AIP"
PARSE_JOB = "Parse the METS into the database"

#: File columns a METS gives back (everything the reingest re-reads).
_FILE_COLUMNS = (
    "sip_uuid",
    "original_path",
    "current_path",
    "size",
    "checksum",
    "checksum_type",
    "puid",
    "format_name",
    "format_version",
    "use",
    "derived_from",
)


@task(cache_policy=NONE, name=GROUP)
@step(StepContext.load)
def prepare_reingest(ctx: StepContext) -> None:
    """Unpack the stored AIP and read its METS (skipped once the METS was read)."""
    if not ctx.todo(PARSE_JOB):
        return
    rec = ctx.recorder
    with rec.job(ctx.unit_uuid, GROUP, "Move AIP to processing directory"):
        sip_dir = unpack_stored_aip(ctx.unit_uuid, rec)
    with rec.job(ctx.unit_uuid, GROUP, PARSE_JOB) as job:
        count = load_mets_rows(ctx.unit_uuid, sip_dir, job, rec)
        job.output = f"{count} files"


def unpack_stored_aip(unit_uuid: str, recorder: Recorder) -> Path:
    """Copy/extract the stored AIP's payload to ``<processing>/<name>-<uuid>/``."""
    with session_scope(recorder.engine) as s:
        pkg = s.get(Package, unit_uuid)
        if pkg is None:
            raise NotFound(f"no stored AIP {unit_uuid}")
        loc = s.get(Location, pkg.location_uuid)
        assert loc is not None
        stored, name = Path(loc.path) / pkg.path, pkg.name
    if not name or Path(name).name != name or name in (".", ".."):
        raise InvalidInput(f"stored AIP {unit_uuid} has no usable name ({name!r})")
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING, recorder.engine).path)
    # The only folder this step replaces: refused unless strictly inside processing.
    target = processing_directory(str(processing / name), recorder.engine)
    # a killed attempt's leftovers have these same names: removed, then redone
    scratch = processing / f".reingest-{unit_uuid}"
    staging = processing / f".{name}.unpacking"
    for leftover in (target, scratch, staging):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        bag = stored
        if not stored.is_dir():
            scratch.mkdir()
            bag = extract_aip(stored, scratch)
        shutil.copytree(bag / "data", staging, copy_function=_copy_then_fault)
        staging.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    fault("reingest:unpacked")
    with session_scope(recorder.engine) as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        unit.current_path = str(target)
    return target


def _copy_then_fault(src: str, dst: str) -> object:
    done = shutil.copy2(src, dst)
    fault("reingest:unpacking")
    return done


def load_mets_rows(unit_uuid: str, sip_dir: Path, job: JobHandle, recorder: Recorder) -> int:
    """Read the old METS into File and Event rows; returns the number of files.

    Idempotent: rows already present (the transfer's, or an earlier attempt's) are
    updated (files) or kept (events) instead of inserted again.
    """
    mets_path = sip_dir / f"METS.{unit_uuid}.xml"
    contents = read_mets(mets_path)
    rows = []
    for uuid, info in contents.files.items():
        path = info["path"]
        on_disk = sip_dir / path
        derived = next(
            (
                r["related_uuid"]
                for r in info.get("relationships", [])
                if r["sub_type"] == "has source"
            ),
            None,
        )
        rows.append(
            {
                "uuid": uuid,
                "unit_uuid": unit_uuid,
                "sip_uuid": unit_uuid,
                "original_path": original_path(info, path),
                "current_path": path,
                "size": info.get("size") or (on_disk.stat().st_size if on_disk.exists() else None),
                "checksum": info.get("checksum") or None,
                "checksum_type": info.get("checksum_algorithm") or "sha256",
                "puid": info.get("puid") or None,
                "format_name": info.get("format_name") or None,
                "format_version": info.get("format_version") or None,
                "use": info["use"],
                "derived_from": derived,
            }
        )
    _upsert_files(rows, recorder)
    events = mets_event_rows(
        contents, ((info["uuid"], info) for info in contents.files.values()), unit_uuid
    )
    known = _existing(Event, list(events), recorder)
    recorder.write_bulk([], [e for uuid, e in events.items() if uuid not in known])
    already = _reingested_now(unit_uuid, set(events), recorder)
    for row in rows:
        if row["uuid"] not in already:
            job.event(file_uuid=str(row["uuid"]), event_type="reingestion")
    with session_scope(recorder.engine) as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        unit.variables = {
            **(unit.variables or {}),
            "mets_created": mets_datetime(contents.createdate).isoformat(),
            # the directories' UUIDs, kept by the METS the reingest writes
            "directory_uuids": dict(contents.directories),
        }
    mets_path.unlink()
    return len(rows)


def _existing(model: type[File] | type[Event], uuids: list[str], recorder: Recorder) -> set[str]:
    """Which of ``uuids`` already have a row of ``model``."""
    found: set[str] = set()
    with session_scope(recorder.engine) as s:
        for i in range(0, len(uuids), 500):
            chunk = uuids[i : i + 500]
            found.update(s.exec(select(model.uuid).where(col(model.uuid).in_(chunk))).all())
    return found


def _upsert_files(rows: list[dict[str, Any]], recorder: Recorder) -> None:
    """Insert new File rows; update the METS' columns of existing ones (a transfer's
    row keeps its owner, ``unit_uuid``, and is linked to this SIP again)."""
    known = _existing(File, [str(r["uuid"]) for r in rows], recorder)
    recorder.add_files([r for r in rows if r["uuid"] not in known])
    recorder.update_files(
        [
            {"uuid": r["uuid"], "removed": False, **{k: r[k] for k in _FILE_COLUMNS}}
            for r in rows
            if r["uuid"] in known
        ]
    )


def _reingested_now(unit_uuid: str, from_mets: set[str], recorder: Recorder) -> set[str]:
    """Files that already got this round's ``reingestion`` event (an earlier attempt
    of this step): reingestion events of the unit that the old METS does not hold."""
    with session_scope(recorder.engine) as s:
        rows = s.exec(
            select(Event.uuid, Event.file_uuid).where(
                col(Event.unit_uuid) == unit_uuid, col(Event.event_type) == "reingestion"
            )
        ).all()
    return {
        str(file_uuid)
        for uuid, file_uuid in rows
        if file_uuid is not None and uuid not in from_mets
    }


def mets_event_rows(
    contents: METSContents, files: Iterable[tuple[str, dict[str, Any]]], unit_uuid: str
) -> dict[str, dict[str, Any]]:
    """Event rows (recorder.write_bulk form, by event UUID) for the METS events of
    ``files`` (file UUID, METS file info), with their agents, for ``unit_uuid``."""
    events: dict[str, dict[str, Any]] = {}
    for file_uuid, info in files:
        for event_uuid in info.get("events", []):
            ev = contents.events[event_uuid]
            agents = []
            for key in ev["agents"]:
                id_type, _, id_value = key.partition(":")
                meta = contents.agents.get(key, {})
                agents.append(
                    AgentSpec(id_type, id_value, meta.get("name", ""), meta.get("type", ""))
                )
            events.setdefault(
                event_uuid,
                {
                    "uuid": event_uuid,
                    "unit_uuid": unit_uuid,
                    "file_uuid": file_uuid,
                    "event_type": ev["type"],
                    "event_datetime": mets_datetime(ev["datetime"]),
                    "detail": ev["detail"],
                    "outcome": ev["outcome"],
                    "outcome_note": ev["outcome_detail_note"],
                    "_agents": tuple(agents) or None,
                },
            )
    return events


def mets_datetime(text: str) -> datetime:
    """A METS/PREMIS date as an aware datetime (now, when it cannot be read)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return utcnow()
    return value if value.tzinfo else value.replace(tzinfo=UTC)
