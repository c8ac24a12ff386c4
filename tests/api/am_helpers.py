"""Builders for Archivematica API tests: users, units with jobs, decisions."""

from __future__ import annotations

from typing import Any

from custos.db import session_scope
from custos.models import Unit, UnitType
from custos.recorder import Recorder


def make_unit(unit_type: UnitType = UnitType.TRANSFER, name: str = "t1", **fields: Any) -> str:
    """A unit row without jobs; returns its uuid."""
    with session_scope() as s:
        unit = Unit(unit_type=unit_type, name=name, **fields)
        s.add(unit)
        s.flush()
        return unit.uuid


def add_jobs(unit_uuid: str, *jobs: tuple[str, str]) -> list[str]:
    """Record COMPLETE jobs (microservice, name) in order; returns their uuids."""
    rec = Recorder()
    return [rec.record_job(unit_uuid, group, name) for group, name in jobs]


def set_unit(unit_uuid: str, **fields: Any) -> None:
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        for key, value in fields.items():
            setattr(unit, key, value)
    Recorder().refresh_status(unit_uuid)
