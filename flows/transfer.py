"""The ``transfer`` flow: a transfer unit from its source to a SIP.

A recipe over Archivematica's transfer microservices (steps 1-18 of its standard
workflow), one Prefect task each, walked by ``flows.steps.walk``. The approval
comes first; once approved, the first job copies the source into processing
(*Move to processing directory*, ``tasks.transfer.move_to_processing``); a full
reingest restores the stored AIP instead. Every task skips the jobs the unit
already completed, so running the flow again resumes a stopped, failed-over or
crashed transfer where it was. A decision the processing configuration does not
answer ends the flow with the unit in USER_INPUT; answering it resubmits the
flow. A step that raises fails the unit (``Recorder.fail_unit``, with the
microservice and the reason; its folder and job history are kept) and the run
fails with the error.

Example::

    transfer(unit_uuid)                      # a flow run (deployment)
    transfer.fn(unit_uuid)                   # the inline backend: the same steps,
                                             # plain functions, no Prefect engine
    run_transfer(unit_uuid, use_prefect=False, timings={})  # the same, with per-step timings
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE

from custos import decisions
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import TransferType, Unit, UnitStatus
from custos.steps import Outcome
from custos.transfers import APPROVALS, REJECT_CHAIN
from flows.steps import walk
from tasks.transfer.aip_reingest import restore_aip
from tasks.transfer.characterization import characterize
from tasks.transfer.checksums_verify import verify_checksums
from tasks.transfer.common import shared_recorder
from tasks.transfer.compliance import verify_compliance
from tasks.transfer.dspace import identify_dspace_files
from tasks.transfer.formats import identify_file_format
from tasks.transfer.identifiers import assign_file_uuids
from tasks.transfer.metadata import generate_mets
from tasks.transfer.move_to_processing import move_to_processing
from tasks.transfer.names import change_filenames
from tasks.transfer.packages import extract_packages
from tasks.transfer.sip import create_sips
from tasks.transfer.structure import structure_report
from tasks.transfer.virus import cancel_prescan, scan_for_viruses, start_prescan

#: The microservice tasks in workflow order after the copy into processing (steps
#: 2-18; step 1 is the approval).
STEPS: tuple[Any, ...] = (
    verify_compliance,
    assign_file_uuids,
    verify_checksums,
    scan_for_viruses,
    structure_report,
    change_filenames,
    identify_file_format,
    extract_packages,
    identify_dspace_files,
    characterize,
    generate_mets,
    create_sips,
)


@task(name="Approve transfer", cache_policy=NONE)
def approve_transfer(unit_uuid: str) -> Outcome:
    """Step 1: the approval asked when the transfer started (``custos.transfers``).

    CONTINUE when approved (or auto-approved), WAIT while unanswered, STOP once
    rejected (the rejection recorded once).
    """
    rec = shared_recorder()
    unit = _unit(unit_uuid)
    approval = None if unit.auto_approve else APPROVALS.get(unit.transfer_type)
    if approval is None:
        return Outcome.CONTINUE
    choice = decisions.answered(unit.uuid, approval.name, rec.engine)
    if choice is None:
        return Outcome.WAIT
    if choice != REJECT_CHAIN:
        return Outcome.CONTINUE
    if "Move to the rejected directory" not in rec.completed_jobs(unit_uuid):
        rec.reject_unit(unit_uuid)
    return Outcome.STOP


def transfer_steps(unit: Unit) -> tuple[Any, ...]:
    """The unit's steps once approved: its source copied in (a full reingest: its AIP
    restored), then ``STEPS``."""
    first = restore_aip if unit.transfer_type == TransferType.AIP else move_to_processing
    return (first, *STEPS)


def _unit(unit_uuid: str) -> Unit:
    with session_scope(shared_recorder().engine) as s:
        unit = s.get(Unit, unit_uuid)
    if unit is None:
        raise NotFound(f"transfer {unit_uuid} does not exist")
    return unit


def run_transfer(
    unit_uuid: str, *, use_prefect: bool | None = None, timings: dict[str, float] | None = None
) -> UnitStatus:
    """Walk the transfer's steps; returns the unit's status when the walk stops.

    Steps are Prefect tasks inside a flow run and plain functions outside one
    (``use_prefect`` forces either); ``timings`` receives seconds per microservice.
    Once the folder is compliant the virus scan runs in the background
    (``tasks.transfer.virus``), so the *Scan for viruses* timing is only the wait
    for what was not yet scanned.
    """
    unit = _unit(unit_uuid)

    def after(step: Any) -> None:
        if step is verify_compliance:
            # The folder has its final layout: ClamAV starts now, in the
            # background, and step 8 collects (and completes) its result.
            start_prescan(unit_uuid)

    try:
        steps = (approve_transfer, *transfer_steps(unit))
        walk(unit_uuid, steps, prefect=use_prefect, after=after, timings=timings)
    finally:
        cancel_prescan(unit_uuid)  # a no-op once step 8 has collected it
    info = shared_recorder().status_info(unit_uuid)
    return info.status if info else UnitStatus.PROCESSING


@flow(name="transfer", log_prints=True)
def transfer(unit_uuid: str) -> str:
    """Run (or resume) a transfer; returns the unit's status when the flow stops."""
    return str(run_transfer(unit_uuid))
