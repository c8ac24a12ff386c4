"""The ``reingest`` flow: a stored AIP back into processing, then ingest again.

``custos.reingest.start_reingest`` prepares the unit and submits this flow. It
unpacks the stored AIP, reads its METS back into File and Event rows (a
``reingestion`` event per file), then hands over to the ``ingest`` flow, whose first
step asks *Approve AIP reingest* unless the configuration answers it.
"""

from __future__ import annotations

from prefect import flow

from custos.errors import CustosError
from custos.recorder import Recorder
from flows.ingest import ingest
from tasks.ingest.reingest import load_mets_rows, unpack_stored_aip


def prepare_reingest(unit_uuid: str) -> None:
    """Unpack and parse (skipped when already done for this reingest)."""
    rec = Recorder()
    done = rec.completed_jobs(unit_uuid)
    if "Parse the METS into the database" in done:
        return
    with rec.job(unit_uuid, "Reingest AIP", "Move AIP to processing directory"):
        sip_dir = unpack_stored_aip(unit_uuid, rec)
    with rec.job(unit_uuid, "Reingest AIP", "Parse the METS into the database") as job:
        count = load_mets_rows(unit_uuid, sip_dir, job, rec)
        job.output = f"{count} files"


@flow(name="reingest")
def reingest(unit_uuid: str) -> str:
    """Prepare the reingest, then run ingest; returns ingest's outcome."""
    try:
        prepare_reingest(unit_uuid)
    except CustosError as exc:
        Recorder().fail_unit(unit_uuid, f"{type(exc).__name__}: {exc}")
        return "failed"
    except Exception as exc:  # a bug, not a bad AIP: recorded, then raised for the logs
        Recorder().fail_unit(unit_uuid, f"{type(exc).__name__}: {exc}")
        raise
    runner = ingest if _in_flow() else ingest.fn
    return str(runner(unit_uuid))


def _in_flow() -> bool:
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None
