"""Creating transfer units: check the source, record the unit, start the flow.

``start_transfer`` is what every entry point calls (Archivematica's
``start_transfer``/``package`` endpoints, the CLI, watched folders): it checks
the source against its location (no escapes) and its type, writes the Unit row
(its folder will be ``<name>-<uuid>/`` in the processing location), and either
submits the ``transfer`` flow (auto-approve) or leaves the unit waiting at
Archivematica's *Approve ... transfer* decision. It copies nothing, so it returns
in milliseconds whatever the size: the copy into processing is the flow's first
job, *Move to processing directory* (``tasks.transfer.move_to_processing``),
resumable like every other step; the source is only ever read.
``approve_transfer`` answers the approval decision, which resubmits the flow.

Example::

    uuid = start_transfer("photos", (location_uuid, "incoming/photos"),
                          processing_config="automated")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, select

from custos import decisions
from custos.db import get_engine, session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import Decision, LocationPurpose, TransferType, Unit, UnitType, new_uuid
from custos.processing import NAME_RE, load_named, named_path
from custos.recorder import Recorder
from custos.storage import default_location, get_location, resolve_inside, source_path

STANDARD, ZIPFILE, BAG = TransferType.STANDARD, TransferType.ZIPFILE, TransferType.BAG
ZIPPED_BAG = TransferType.ZIPPED_BAG
DSPACE, DATAVERSE = TransferType.DSPACE, TransferType.DATAVERSE
TRANSFER_TYPES = (STANDARD, ZIPFILE, BAG, ZIPPED_BAG, DSPACE, DATAVERSE)
_ALIASES = {
    "zipped": ZIPFILE,
    "zip": ZIPFILE,
    "bag": BAG,
    "unzipped_bag": BAG,
    "zipped_bag": ZIPPED_BAG,
}
APPROVE_CHAIN = "6953950b-c101-4f4c-a0c3-0cd0684afe5e"
REJECT_CHAIN = "1b04ec43-055c-43b7-9543-bd03c6a778ba"


@dataclass(frozen=True)
class Approval:
    """Archivematica's approval decision for one transfer type: its link and chains.

    Each type has its own *Approve ... transfer* link and approve chain (the
    chains of ``PACKAGE_TYPE_STARTING_POINTS``); *Reject transfer* is shared.
    """

    name: str
    link_uuid: str
    approve_chain: str

    @property
    def choices(self) -> list[decisions.Choice]:
        """The decision's choices, in Archivematica's order for the type."""
        return [
            decisions.Choice(self.approve_chain, "Approve transfer"),
            decisions.Choice(REJECT_CHAIN, "Reject transfer"),
        ]


APPROVALS: dict[str, Approval] = {
    STANDARD: Approval(
        "Approve standard transfer", "0c94e6b5-4714-4bec-82c8-e187e0c04d77", APPROVE_CHAIN
    ),
    ZIPFILE: Approval(
        "Approve zipped transfer",
        "44e0b981-78d2-4403-8233-05038b3cc603",
        "f3caceff-5ad5-4bad-b98c-e73f8cd03450",
    ),
    BAG: Approval(
        "Approve bagit transfer",
        "f6bcc82a-d629-4a78-8643-bf6e3cb39fe6",
        "c75ef451-2040-4511-95ac-3baa0f019b48",
    ),
    ZIPPED_BAG: Approval(
        "Approve zipped bagit transfer",
        "15402367-2d3f-475e-b251-55532347a3c2",
        "167dc382-4ab1-4051-8e22-e7f1c1bf3e6f",
    ),
    DSPACE: Approval(
        "Approve DSpace transfer",
        "b963a646-0569-43c4-89a2-e3b814c5c08e",
        "1cb2ef0e-afe8-45b5-8d8f-a1e120f06605",
    ),
    DATAVERSE: Approval(
        "Approve Dataverse transfer",
        "246943e4-d203-48e1-ac84-4865520e7c30",
        "10c00bc8-8fc2-419f-b593-cf5518695186",
    ),
}


def normalize_type(transfer_type: str) -> TransferType:
    """Archivematica's transfer type for ``transfer_type`` (a few aliases accepted)."""
    value = (transfer_type or STANDARD).strip().lower()
    value = _ALIASES.get(value, value)
    if value not in TRANSFER_TYPES:
        raise InvalidInput(
            f"unknown transfer type {transfer_type!r}; use one of {', '.join(TRANSFER_TYPES)}"
        )
    return TransferType(value)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or name in {".", ".."} or "/" in name or "\0" in name or len(name) > 200:
        raise InvalidInput(f"transfer name {name!r} is not usable as a folder name")
    return name


def resolve_source(source: str | tuple[str, str] | Path) -> Path:
    """The source on disk: AM base64, ``(location uuid, relative path)``, or a local Path.

    A ``Path`` is trusted (CLI, watched folders); the other forms are resolved
    inside their location and refused when they escape it.
    """
    if isinstance(source, Path):
        path = source.expanduser().absolute()
        if not path.exists() and not path.is_symlink():
            raise NotFound(f"{path} does not exist")
        return path
    if isinstance(source, tuple):
        loc_uuid, rel = source
        loc = get_location(loc_uuid)
        if loc.purpose != LocationPurpose.TRANSFER_SOURCE:
            raise InvalidInput(f"location {loc_uuid} is not a transfer source")
        target = resolve_inside(Path(loc.path), rel)
        if not target.exists():
            raise NotFound(f"{rel!r} does not exist in location {loc_uuid}")
        return target
    return source_path(source)[1]


def check_source(path: Path, transfer_type: str) -> None:
    """Refuse a source that cannot make a transfer of its type (checked at start and
    again when it is copied)."""
    from custos.sniff import is_bag, package_kind

    if path.is_symlink():
        raise InvalidInput(f"{path.name}: the transfer source must not be a symbolic link")
    if transfer_type in (STANDARD, BAG, DSPACE, DATAVERSE):
        if not path.is_dir():
            raise InvalidInput(f"a {transfer_type} transfer needs a folder, {path.name} is not")
        if transfer_type == BAG and not is_bag(path):
            raise InvalidInput(f"{path.name} is not a bag (no bagit.txt)")
        return
    if not path.is_file():
        raise InvalidInput(f"a {transfer_type} transfer needs a file, {path.name} is not")
    kind = package_kind(path)
    if kind is None or (transfer_type == ZIPPED_BAG and kind == "7z"):
        raise InvalidInput(f"{path.name} is not a supported package for a {transfer_type} transfer")


def check_start(
    name: str, source: str | tuple[str, str] | Path, transfer_type: str = STANDARD
) -> tuple[str, TransferType, Path]:
    """What :func:`start_transfer` refuses, checked without creating anything (a
    caller refuses bad input before it asks for somewhere to run the work): the
    name, the type, and a source that exists and fits the type. Returns the
    cleaned name, the type and the source on disk."""
    name = _check_name(name)
    ttype = normalize_type(transfer_type)
    src = resolve_source(source)
    check_source(src, ttype)
    return name, ttype, src


def start_transfer(
    name: str,
    source: str | tuple[str, str] | Path,
    transfer_type: str = STANDARD,
    processing_config: str = "default",
    accession: str | None = None,
    auto_approve: bool = True,
    access_system_id: str | None = None,
    *,
    created_by: int | None = None,
    submit: bool = True,
    uuid: str | None = None,
) -> str:
    """Create the transfer unit and start it, or park it at its approval.

    Returns the transfer's UUID. With ``auto_approve`` the ``transfer`` flow is
    submitted at once; otherwise the unit waits (USER_INPUT) at the approval
    decision until ``approve_transfer``, unless the processing configuration answers
    *Approve standard transfer* (Yes: approved at once; No: rejected). Nothing is
    copied here: the flow's first job copies the source, which must stay in place
    until then. ``uuid`` names the unit (a caller that must find its transfer again
    after a crash derives it); by default a new one.
    """
    name, ttype, src = check_start(name, source, transfer_type)
    config = processing_config or "default"
    if not NAME_RE.match(config):
        raise InvalidInput(f"processing configuration name {config!r} is invalid")
    try:
        named_path(config)
    except NotFound:
        config = "default"  # Archivematica's rule: unknown names run with "default"
    # "Approve standard transfer" preconfigured: Yes approves at once, No rejects.
    preset = None if auto_approve else load_named(config).approve_transfer
    auto_approve = auto_approve or preset is True
    # the folders above it as they really are: the copy refuses a link swapped in later
    src = src.parent.resolve() / src.name
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    uuid = uuid or new_uuid()
    dest = processing / f"{name}-{uuid}"
    with session_scope() as s:
        s.add(
            Unit(
                uuid=uuid,
                unit_type=UnitType.TRANSFER,
                name=name,
                transfer_type=ttype,
                current_path=str(dest),
                source_path=os.fsdecode(src),
                processing_config=config,
                accession=accession or None,
                access_system_id=access_system_id or None,
                auto_approve=auto_approve,
                created_by=created_by,
            )
        )
    if not auto_approve:
        approval = APPROVALS[ttype]
        asked = decisions.ask(
            Recorder(),
            uuid,
            microservice="Approve transfer",
            name=approval.name,
            choices=approval.choices,
            link_uuid=approval.link_uuid,
        )
        if preset is False:
            decisions.answer(
                asked.job_uuid, REJECT_CHAIN, by="processing configuration", resubmit=submit
            )
    elif submit:
        from custos import dispatch

        dispatch.submit("transfer", uuid)
    return uuid


def approval_decision(unit_uuid: str) -> Decision | None:
    """The unit's unanswered approval decision, if it waits for one."""
    names = [a.name for a in APPROVALS.values()]
    with session_scope(get_engine()) as s:
        return s.exec(
            select(Decision).where(
                col(Decision.unit_uuid) == unit_uuid,
                col(Decision.name).in_(names),
                col(Decision.choice).is_(None),
            )
        ).first()


def approve_transfer(unit_uuid: str, *, by: str = "", resubmit: bool = True) -> str:
    """Approve a transfer waiting for approval and resume its flow; returns its uuid."""
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None or unit.unit_type != UnitType.TRANSFER:
            raise NotFound(f"transfer {unit_uuid} does not exist")
    decision = approval_decision(unit_uuid)
    if decision is None:
        raise Conflict(f"transfer {unit_uuid} is not awaiting approval")
    # The approve choice offered by this decision (its type's chain; a decision
    # recorded before the per-type chains offered the standard one).
    approve = next(
        (str(c["id"]) for c in decision.choices if str(c["id"]) != REJECT_CHAIN), APPROVE_CHAIN
    )
    decisions.answer(decision.job_uuid, approve, by=by, resubmit=resubmit)
    return unit_uuid
