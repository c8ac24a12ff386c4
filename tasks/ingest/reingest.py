"""Reingest steps: unpack the stored AIP into processing and read its METS into rows.

The SIP directory is rebuilt from the bag's ``data/`` (objects, thumbnails, logs,
README, the old METS), File rows come back from the METS with their recorded
checksums (so bagging does not hash unchanged files again), their events and
agents are restored, and each file gets a ``reingestion`` event.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from custos.db import session_scope
from custos.errors import NotFound
from custos.mets.read import read_mets
from custos.models import Location, LocationPurpose, Package, Unit, utcnow
from custos.recorder import AgentSpec, JobHandle, Recorder
from custos.storage import default_location
from tasks.compress import extract_aip


def unpack_stored_aip(unit_uuid: str, recorder: Recorder) -> Path:
    """Copy/extract the stored AIP's payload to ``<processing>/<name>-<uuid>/``."""
    with session_scope(recorder.engine) as s:
        pkg = s.get(Package, unit_uuid)
        if pkg is None:
            raise NotFound(f"no stored AIP {unit_uuid}")
        loc = s.get(Location, pkg.location_uuid)
        assert loc is not None
        stored, name = Path(loc.path) / pkg.path, pkg.name
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING,
                                       recorder.engine).path)
    target = processing / name
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=".reingest-", dir=processing) as scratch:
        bag = stored if stored.is_dir() else extract_aip(stored, Path(scratch))
        shutil.copytree(bag / "data", target)
    with session_scope(recorder.engine) as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        unit.current_path = str(target)
    return target


def load_mets_rows(unit_uuid: str, sip_dir: Path, job: JobHandle, recorder: Recorder) -> int:
    """Read the old METS into File and Event rows; returns the number of files."""
    mets_path = sip_dir / f"METS.{unit_uuid}.xml"
    contents = read_mets(mets_path)
    rows = []
    for uuid, info in contents.files.items():
        path = info["path"]
        on_disk = sip_dir / path
        derived = next((r["related_uuid"] for r in info.get("relationships", [])
                        if r["sub_type"] == "has source"), None)
        rows.append({
            "uuid": uuid, "unit_uuid": unit_uuid, "sip_uuid": unit_uuid,
            "original_path": path, "current_path": path,
            "size": info.get("size") or (on_disk.stat().st_size if on_disk.exists() else None),
            "checksum": info.get("checksum") or None,
            "checksum_type": info.get("checksum_algorithm") or "sha256",
            "puid": info.get("puid") or None, "format_name": info.get("format_name") or None,
            "format_version": info.get("format_version") or None,
            "use": info["use"], "derived_from": derived,
        })
    recorder.add_files(rows)
    events = []
    for info in contents.files.values():
        for event_uuid in info.get("events", []):
            ev = contents.events[event_uuid]
            agents = []
            for key in ev["agents"]:
                id_type, _, id_value = key.partition(":")
                meta = contents.agents.get(key, {})
                agents.append(AgentSpec(id_type, id_value, meta.get("name", ""),
                                        meta.get("type", "")))
            events.append({
                "uuid": event_uuid, "unit_uuid": unit_uuid, "file_uuid": info["uuid"],
                "event_type": ev["type"], "event_datetime": _when(ev["datetime"]),
                "detail": ev["detail"], "outcome": ev["outcome"],
                "outcome_note": ev["outcome_detail_note"], "_agents": tuple(agents) or None,
            })
    recorder.write_bulk([], events)
    for row in rows:
        job.event(file_uuid=str(row["uuid"]), event_type="reingestion")
    with session_scope(recorder.engine) as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        unit.variables = {**(unit.variables or {}),
                          "mets_created": _when(contents.createdate).isoformat()}
    mets_path.unlink()
    return len(rows)


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return utcnow()
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
