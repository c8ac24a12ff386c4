"""The ``reingest`` flow: a stored AIP back into processing, then ingest again.

``custos.reingest.start_reingest`` prepares the unit and submits this flow. Its
first step unpacks the stored AIP and reads its METS back into File and Event rows
(a ``reingestion`` event per file); then the ``ingest`` steps follow, the first of
which asks *Approve AIP reingest* unless the configuration answers it. One walk
(``flows.steps.walk``), one failure policy, as in every flow.
"""

from __future__ import annotations

from prefect import flow

from flows.ingest import RESULTS
from flows.ingest import STEPS as INGEST_STEPS
from flows.steps import walk
from tasks.ingest.reingest import prepare_reingest

STEPS = (prepare_reingest, *INGEST_STEPS)

__all__ = ["STEPS", "prepare_reingest", "reingest"]


@flow(name="reingest")
def reingest(unit_uuid: str) -> str:
    """Prepare the reingest, then run ingest's steps; returns ingest's result."""
    return RESULTS[walk(unit_uuid, STEPS)]
