"""``--wait``: following work from the database until it stops.

The database is the truth for every status, so a command follows its units the
same way whether ``custos serve`` runs them (``Mode.SERVED``) or this process does
(``Mode.INLINE``): it polls the unit's status and jobs, draws one progress bar per
unit on stderr, and returns when the unit is no longer ``PROCESSING``. Inline, it
also returns when no flow thread of this process is left (nothing more can
happen). Ctrl-C stops following, never the served work: the command says how to
look again.

Example::

    result = follow(uuid, mode, quiet=json_out)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlmodel import col, select

from cli.common import err
from custos import dispatch
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import Job, Unit, UnitStatus, UnitType
from custos.recorder import Recorder
from custos.runtime.client import Mode

POLL_SECONDS = 0.25
#: Microservice groups of each flow, for the progress bars' totals.
TRANSFER_GROUPS = 11
INGEST_GROUPS = 20


def inline_busy() -> bool:
    """Whether a flow thread of this process still runs."""
    return any(t.is_alive() for t in list(dispatch.inline_backend().threads.values()))


def still_running(mode: Mode) -> Callable[[], bool]:
    """What says more can happen: inline, a live flow thread; served, always."""
    return inline_busy if mode == Mode.INLINE else (lambda: True)


def interrupted(what: str, mode: Mode) -> typer.Exit:
    """Ctrl-C while following: one line on what goes on, exit code 130."""
    if mode == Mode.INLINE:
        err.print(
            f"interrupted: {what} stays PROCESSING; a `custos serve` for this home "
            "resumes it (its reconciler)",
            markup=False,
        )
    else:
        err.print(
            f"stopped following; custos serve goes on with {what} (`custos status` shows it)",
            markup=False,
        )
    return typer.Exit(130)


def unit_status(unit_uuid: str) -> dict[str, Any]:
    """Archivematica's status object of a transfer or SIP (plus its error)."""
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
    info = Recorder().status_info(unit_uuid)
    kind = str(unit.unit_type)
    path = unit.current_path or ""
    data: dict[str, Any] = {
        "status": str(info.status) if info else str(unit.status),
        "name": unit.name,
        "uuid": unit.uuid,
        "type": kind,
        "microservice": info.microservice if info else "",
        "directory": Path(path).name,
        "path": path.rstrip("/") + "/",
        "message": f"Fetched status for {unit.uuid} successfully.",
    }
    if info and info.sip_uuid:
        data["sip_uuid"] = info.sip_uuid
    if unit.error:
        data["error"] = unit.error
    return data


def _progress(unit_uuid: str) -> tuple[UnitStatus, int, str]:
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
        rows = s.exec(
            select(col(Job.microservice))
            .where(col(Job.unit_uuid) == unit_uuid)
            .order_by(col(Job.seq))
        ).all()
    groups = list(dict.fromkeys(rows))
    return UnitStatus(unit.status), len(groups), groups[-1] if groups else "waiting to start"


def follow_unit(unit_uuid: str, label: str, mode: Mode, *, quiet: bool, total: int) -> None:
    """Show the unit's progress until it stops (see the module doc)."""
    running = still_running(mode)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    ) as bar:
        task_id = bar.add_task(label, total=total)
        while True:
            busy = running()  # read before the status: a run ending in between is seen
            status, done, current = _progress(unit_uuid)
            if status == UnitStatus.COMPLETE:
                done = total
            bar.update(task_id, completed=min(done, total), description=f"{label}: {current}")
            if status != UnitStatus.PROCESSING or not busy:
                return
            time.sleep(POLL_SECONDS)


def waiting_decisions(unit_uuid: str) -> list[dict[str, Any]]:
    """The unit's unanswered decisions (job, name, choices)."""
    from custos import decisions

    return [
        {"job_uuid": d["job_uuid"], "decision": d["decision"], "choices": d["choices"]}
        for d in decisions.waiting()
        if d["unit_uuid"] == unit_uuid
    ]


@dataclass
class Followed:
    """What ``--wait`` reports: each unit's status object, in order, and its decisions."""

    units: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        bad = {UnitStatus.FAILED, UnitStatus.REJECTED}
        return any(u.get("status") in bad for u in self.units.values())

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.units)
        if self.decisions:
            data["decisions"] = self.decisions
        return data


def follow(unit_uuid: str, mode: Mode, *, quiet: bool) -> Followed:
    """Follow a unit to where it stops: a transfer, then its SIP's ingest."""
    result = Followed()
    kind = _unit_type(unit_uuid)
    if kind == UnitType.SIP:
        return follow_sip(unit_uuid, mode, quiet=quiet, result=result)
    if kind != UnitType.TRANSFER:
        follow_unit(unit_uuid, kind, mode, quiet=quiet, total=1)
        result.units[kind] = unit_status(unit_uuid)
        result.decisions = waiting_decisions(unit_uuid)
        return result
    follow_unit(unit_uuid, "transfer", mode, quiet=quiet, total=TRANSFER_GROUPS)
    result.units["transfer"] = unit_status(unit_uuid)
    sip_uuid = result.units["transfer"].get("sip_uuid")
    if result.units["transfer"]["status"] == UnitStatus.USER_INPUT:
        result.decisions = waiting_decisions(unit_uuid)
    elif sip_uuid and sip_uuid != "BACKLOG":
        follow_sip(sip_uuid, mode, quiet=quiet, result=result)
    return result


def follow_sip(unit_uuid: str, mode: Mode, *, quiet: bool, result: Followed) -> Followed:
    """Follow a SIP's ingest to where it stops."""
    follow_unit(unit_uuid, "ingest", mode, quiet=quiet, total=INGEST_GROUPS)
    result.units["ingest"] = unit_status(unit_uuid)
    if result.units["ingest"]["status"] == UnitStatus.USER_INPUT:
        result.decisions = waiting_decisions(unit_uuid)
    return result


def _unit_type(unit_uuid: str) -> str:
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
        return str(unit.unit_type)


def report(result: Followed) -> list[str]:
    """The lines a person reads after ``--wait``."""
    lines = []
    for key, data in result.units.items():
        line = f"{key} {data['uuid']}: {data['status']}"
        if data.get("error"):
            line += f" ({data['error']})"
        lines.append(line)
    for d in result.decisions:
        choices = ", ".join(f"{c['id']} ({c['label']})" for c in d["choices"])
        lines.append(
            f"waiting: {d['decision']} - answer with `custos decide {d['job_uuid']} "
            f"CHOICE`; choices: {choices}"
        )
    return lines
