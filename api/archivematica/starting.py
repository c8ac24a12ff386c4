"""Starting and approving transfers for the API, through the core's interfaces.

``custos.transfers`` owns how a transfer is created (checks, Unit row, approval
decision or flow submission; the copy into processing is the flow's first job, so a
request never waits for it); this module adds Archivematica's request conventions:
several paths make several transfers, and approval finds the waiting transfer by its
directory and type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.archivematica.units import TRANSFER_TYPE_DIRS, directory_of, waiting_decisions
from custos import decisions, transfers
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import Unit, UnitType
from custos.storage import source_path


@dataclass
class Started:
    """What the API reports about a transfer it started."""

    uuid: str
    path: str


def start(
    *,
    name: str,
    paths: list[str],
    transfer_type: str,
    accession: str | None = None,
    access_system_id: str | None = None,
    metadata_set_id: str | None = None,
    processing_config: str = "default",
    auto_approve: bool = True,
    user_id: int | None = None,
    path_field: str = "paths[]",
) -> Started:
    """Create one transfer per Archivematica-encoded path (``name``, ``name_2`` ...).

    Returns the first; with ``auto_approve`` false each waits for approval. Every
    path is checked (a transfer source location, a path inside it) before any
    transfer is created; a refusal names ``path_field``, the request's input.
    """
    if not name:
        raise InvalidInput("No transfer name provided.")
    if not paths:
        raise InvalidInput("No path provided.")
    if transfer_type not in TRANSFER_TYPE_DIRS:
        raise InvalidInput(f"Invalid transfer type {transfer_type!r}.")
    for i, encoded in enumerate(paths):
        field = path_field if len(paths) == 1 else f"{path_field} #{i + 1}"
        source_path(encoded, field=field)
    uuids = []
    for i, encoded in enumerate(paths):
        uuids.append(
            transfers.start_transfer(
                name if i == 0 else f"{name}_{i + 1}",
                encoded,
                transfer_type,
                processing_config=processing_config,
                accession=accession,
                auto_approve=auto_approve,
                access_system_id=access_system_id,
                created_by=user_id,
            )
        )
    with session_scope() as s:
        unit = s.get(Unit, uuids[0])
        assert unit is not None
        if metadata_set_id:
            unit.metadata_set_id = metadata_set_id
        path = unit.current_path or ""
    return Started(uuid=uuids[0], path=path.rstrip("/") + "/")


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
