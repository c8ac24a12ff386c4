"""Starting and approving transfers for the API, through the core's interfaces.

The transfer engineer's ``custos.transfers`` owns how a transfer is created;
until it is installed this module creates the Unit row itself and submits the
``transfer`` flow when that flow exists (otherwise the unit waits without jobs,
which Archivematica's status endpoint reports as "Unable to determine the status").
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.archivematica.units import TRANSFER_TYPE_DIRS, directory_of, waiting_decisions
from custos import decisions, dispatch
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import Unit, UnitType
from custos.storage import source_path


@dataclass
class Started:
    """What the API reports about a transfer it started."""

    uuid: str
    path: str


def flow_available(flow_name: str) -> bool:
    """Whether the named flow's module can be imported in this installation."""
    module = dispatch.FLOWS[flow_name].split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _transfers_module() -> Any | None:
    try:
        return importlib.import_module("custos.transfers")
    except ModuleNotFoundError as exc:
        if exc.name in ("custos.transfers",):
            return None
        raise


def start(*, name: str, paths: list[str], transfer_type: str, accession: str | None = None,
          access_system_id: str | None = None, metadata_set_id: str | None = None,
          processing_config: str = "default", auto_approve: bool = True,
          user_id: int | None = None) -> Started:
    """Create a transfer from Archivematica-encoded source paths and start its flow."""
    if not name:
        raise InvalidInput("No transfer name provided.")
    if not paths:
        raise InvalidInput("No path provided.")
    if transfer_type not in TRANSFER_TYPE_DIRS:
        raise InvalidInput(f"Invalid transfer type {transfer_type!r}.")
    sources = [source_path(p)[1] for p in paths]
    transfers = _transfers_module()
    if transfers is not None and hasattr(transfers, "start_transfer"):
        unit = transfers.start_transfer(
            name=name, sources=sources, transfer_type=transfer_type, accession=accession,
            access_system_id=access_system_id, metadata_set_id=metadata_set_id,
            processing_config=processing_config, auto_approve=auto_approve,
            user_id=user_id)
        return Started(uuid=unit.uuid, path=unit.current_path or str(sources[0]))
    with session_scope() as s:
        unit = Unit(unit_type=UnitType.TRANSFER, name=name, transfer_type=transfer_type,
                    source_path=str(sources[0]), processing_config=processing_config,
                    accession=accession, access_system_id=access_system_id,
                    metadata_set_id=metadata_set_id, auto_approve=auto_approve,
                    created_by=user_id,
                    variables={"sources": [str(p) for p in sources]})
        s.add(unit)
        s.flush()
        uuid = unit.uuid
    if flow_available("transfer"):
        dispatch.submit("transfer", uuid)
    return Started(uuid=uuid, path=str(Path(sources[0])))


def approve(directory: str, transfer_type: str, username: str = "") -> str:
    """Answer the approval decision of the transfer in ``directory``; its uuid."""
    for decision, unit, _job in waiting_decisions((UnitType.TRANSFER,)):
        if not decision.name.startswith("Approve"):
            continue
        if directory not in (directory_of(unit), unit.name):
            continue
        if unit.transfer_type != transfer_type:
            continue
        choice = approve_choice(decision.choices)
        decisions.answer(decision.job_uuid, choice, by=username)
        return unit.uuid
    raise NotFound("Unable to start the transfer.")


def approve_choice(choices: list[dict[str, Any]]) -> str:
    """The id of the approving choice of an approval decision."""
    for c in choices:
        if str(c.get("label", "")).lower().startswith("approve"):
            return str(c["id"])
    for c in choices:
        if "reject" not in str(c.get("label", "")).lower():
            return str(c["id"])
    raise InvalidInput("the decision has no approving choice")
