"""The ``ingest`` flow: a SIP becomes a stored, verified AIP (and a DIP when asked).

Straight-line Python over Archivematica's ingest groups (steps 19-35). Every step
skips what is already done for the unit, so the same flow run again after a
decision or a crash resumes where it stopped. A step returning WAIT (a decision is
pending) or STOP (rejected) ends the run; a Custos error sends the SIP down the
*Failed SIP* path (status FAILED) with the cause kept on the unit.

Outside a Prefect flow run (``ingest.fn(unit_uuid)`` in tests and tools) the steps
run as plain functions, without Prefect's engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.context import FlowRunContext

from custos.errors import CustosError
from custos.recorder import Recorder
from tasks.ingest import steps
from tasks.ingest.context import CONTINUE

STEPS = (steps.verify_sip, steps.normalize_sip, steps.add_final_metadata,
         steps.process_metadata, steps.generate_mets,
         steps.prepare_dip, steps.prepare_aip, steps.store_aip,
         steps.remove_processing_directory)


def run_step(step: Any, unit_uuid: str) -> str:
    """Call a step as a Prefect task inside a flow run, as a function outside one."""
    fn: Callable[[str], str] = step if FlowRunContext.get() is not None else step.fn
    return fn(unit_uuid)


@flow(name="ingest")
def ingest(unit_uuid: str) -> str:
    """Advance the SIP as far as it can go; returns ``complete``, ``wait``, ``stop``
    or ``failed``."""
    for step in STEPS:
        try:
            outcome = run_step(step, unit_uuid)
        except CustosError as exc:
            Recorder().fail_unit(unit_uuid, f"{type(exc).__name__}: {exc}")
            return "failed"
        except Exception as exc:
            Recorder().fail_unit(unit_uuid, f"{type(exc).__name__}: {exc}")
            raise
        if outcome != CONTINUE:
            return outcome
    return "complete"
