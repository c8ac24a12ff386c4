"""Run a transfer to a stored AIP in a test and read back what it left.

Tests that start a transfer with the inline flow backend (the ``inline_flows``
fixture) wait for it, then for the ingest it submits, and check both completed::

    transfer, sip = transfer_to_aip(inline_flows, start_transfer("t", src, ...))
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from custos.db import session_scope
from custos.models import Job, Unit, UnitStatus

#: Seconds a transfer (or its ingest) may take in a test.
WAIT = 900


def unit(uuid: str) -> Unit:
    """The unit row; fails the test when there is none."""
    with session_scope() as s:
        row = s.get(Unit, uuid)
        assert row is not None, f"no unit {uuid}"
        return row


def job_output(unit_uuid: str, name: str) -> str:
    """The output of the unit's job ``name`` (fails the test when it did not run)."""
    with session_scope() as s:
        job = s.exec(
            select(Job).where(col(Job.unit_uuid) == unit_uuid, col(Job.name) == name)
        ).first()
        assert job is not None, f"no job {name!r}"
        return job.output or ""


def transfer_to_aip(inline_flows: Any, transfer_uuid: str) -> tuple[Unit, Unit]:
    """Wait for the transfer and the ingest it submits; both must complete, with no
    flow error. Returns the two units (transfer, SIP)."""
    assert inline_flows.wait_all(WAIT), "the transfer is still running"
    transfer = unit(transfer_uuid)
    assert transfer.status == UnitStatus.COMPLETE, transfer.error
    assert transfer.sip_uuid, "the transfer made no SIP"
    assert inline_flows.wait_all(WAIT), "the ingest is still running"
    assert not inline_flows.errors, inline_flows.errors
    sip = unit(transfer.sip_uuid)
    assert sip.status == UnitStatus.COMPLETE, sip.error
    return transfer, sip
