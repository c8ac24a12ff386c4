"""The transfer backlog: transfers sent there at *Create SIP(s)*, and a SIP made
from one later (Archivematica's Backlog tab, *Create SIP*).

``create_sip_from_backlog`` takes a backlogged transfer back: its folder moves
from the backlog location into the processing location, the *Create SIP(s)*
decision is asked again and answered *Create single SIP and continue
processing*, which resubmits the ``transfer`` flow (``custos.dispatch``). The
flow skips every job the transfer already completed and makes the SIP, whose
``ingest`` flow then starts as for any transfer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from custos import decisions, processing
from custos.db import get_engine, session_scope
from custos.errors import Conflict, NotFound, StorageError
from custos.models import LocationPurpose, Unit, UnitStatus, UnitType
from custos.recorder import Recorder
from custos.storage import default_location

BACKLOG = "BACKLOG"
GROUP = "Create SIP from Transfer"
DECISION = "Create SIP(s)"


def create_sip_from_backlog(transfer_uuid: str, *, by: str = "") -> str:
    """Make a SIP from the backlogged transfer ``transfer_uuid`` (returned): the
    transfer flow is resubmitted and creates it.

    A transfer that is not in the backlog (or already taken out of it) is a
    Conflict; its folder missing from the backlog is a StorageError (nothing changes).
    """
    engine = get_engine()
    with session_scope(engine) as s:
        unit = s.get(Unit, transfer_uuid)
        if unit is None or unit.unit_type != UnitType.TRANSFER:
            raise NotFound(f"transfer {transfer_uuid} does not exist")
        if unit.sip_uuid != BACKLOG:
            raise Conflict(f"transfer {unit.name} is not in the backlog")
        folder = Path(unit.current_path or "")
    if not folder.is_dir():
        raise StorageError(f"the backlogged transfer's folder {folder} is missing")
    target = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING, engine).path) / folder.name
    if target.exists():
        raise Conflict(f"{target.name} already exists in the processing location")
    with session_scope(engine) as s:  # claim it: a second click finds it taken
        claimed = s.execute(
            update(Unit)
            .where(col(Unit.uuid) == transfer_uuid, col(Unit.sip_uuid) == BACKLOG)
            .values(sip_uuid=None, current_path=str(target), status=UnitStatus.PROCESSING)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"transfer {transfer_uuid} is not in the backlog")
    try:
        shutil.move(str(folder), str(target))
    except OSError as exc:
        with session_scope(engine) as s:  # put it back as it was
            s.execute(
                update(Unit)
                .where(col(Unit.uuid) == transfer_uuid)
                .values(sip_uuid=BACKLOG, current_path=str(folder), status=UnitStatus.COMPLETE)
            )
        raise StorageError(f"cannot move {folder.name} out of the backlog: {exc}") from exc
    link = processing.link_for("create_sip")
    single = link.choices["single"]
    decision = decisions.ask(
        Recorder(engine),
        transfer_uuid,
        microservice=GROUP,
        name=DECISION,
        choices=[decisions.Choice(single, "Create single SIP and continue processing")],
        link_uuid=link.uuid,
    )
    decisions.answer(decision.job_uuid, single, by=by)
    return transfer_uuid
