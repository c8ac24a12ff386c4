"""The ``ingest`` flow: a SIP becomes a stored, verified AIP (and a DIP when asked).

A recipe over Archivematica's ingest groups (steps 19-35), walked by
``flows.steps.walk``: every step skips what is already done for the unit, so the
same flow run again after a decision or a crash resumes where it stopped. A step
ending with WAIT (a decision is pending) or STOP (rejected) ends the run; a step
that raises sends the SIP down the *Failed SIP* path (status FAILED, the step and
the reason kept on the unit) and the run fails with the error.

Outside a Prefect flow run (``ingest.fn(unit_uuid)``: the inline backend, tests,
benchmarks) the steps run as plain functions, without Prefect's engine.
"""

from __future__ import annotations

from prefect import flow

from custos.steps import Outcome
from flows.steps import walk
from tasks.ingest import policy_checks, steps, transcribe

STEPS = (
    steps.verify_sip,
    steps.normalize_sip,
    policy_checks.policy_checks,
    steps.add_final_metadata,
    transcribe.transcribe_sip,
    steps.process_metadata,
    steps.bind_pids,
    steps.generate_mets,
    steps.prepare_dip,
    steps.prepare_aip,
    steps.store_aip,
    steps.remove_processing_directory,
)
#: What the flow returns for each outcome of its walk.
RESULTS = {Outcome.CONTINUE: "complete", Outcome.WAIT: "wait", Outcome.STOP: "stop"}


@flow(name="ingest")
def ingest(unit_uuid: str) -> str:
    """Advance the SIP as far as it can go; returns ``complete``, ``wait`` or ``stop``
    (a failure raises, the SIP FAILED)."""
    return RESULTS[walk(unit_uuid, STEPS)]
