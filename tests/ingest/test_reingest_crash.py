"""A reingest killed in the middle of swapping the AIP is finished by a restart.

The ingest flow runs in a child process (``tests/aip/crash_child.py``) on a filesystem
without atomic exchange, and is SIGKILLed between the two renames of the swap: the
moment the final name is empty. A restart is what the reconcile flow does at
``custos serve`` start-up: its housekeeping (the store sweep leaves a PROCESSING unit's
leftovers to it) and the reconciler resubmitting the lost unit, whose *Store the AIP*
recovers the interrupted replacement.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from custos import dispatch, reconciler
from custos.db import get_engine, session_scope
from custos.models import Package, PackageStatus, Unit, UnitStatus
from custos.reingest import approve_reingest, start_reingest
from flows.ingest import ingest
from flows.reconcile import tidy
from flows.reingest import reingest
from tasks import aipreplace
from tasks.aipstore import leftovers, stored_size, verify_stored_aip

from .conftest import AUTOMATED, SipFactory

CHILD = Path(__file__).parents[1] / "aip" / "crash_child.py"


def test_a_reingest_killed_mid_swap_completes_after_a_restart(
    make_sip: SipFactory, aip_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uuid, _ = make_sip(
        {"objects/a.txt": "precious\n"},
        name="killed",
        options=AUTOMATED | {"normalize": "none", "compression_algorithm": "uncompressed"},
    )
    assert ingest.fn(uuid) == "complete"
    final = aip_store / f"killed-{uuid}"
    old_identity = aipreplace.identity(final)
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: "test-run")
    start_reingest(uuid, "metadata")
    assert reingest.fn(uuid) == "wait"
    approve_reingest(uuid)

    done = subprocess.run(
        [sys.executable, str(CHILD), "old-moved", "rename", "ingest", uuid],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == -9, done.stdout + done.stderr
    assert not final.exists()  # killed between the two renames
    staging = aipreplace.staging_dir(aip_store, uuid)
    assert (staging / aipreplace.JOURNAL).is_file()

    # Restart: housekeeping keeps the running unit's leftovers, the reconciler resumes it.
    tidy(get_engine())
    assert staging.is_dir()
    ran: list[str] = []

    def submit(flow_name: str, unit_uuid: str, **_: Any) -> str:
        if unit_uuid == uuid:  # other tests' units are not ours to run
            ran.append(flow_name)
            ingest.fn(unit_uuid)
        return "run-" + unit_uuid

    resubmitted = reconciler.reconcile(
        get_engine(), lambda _run: False, grace=timedelta(0), submit=submit
    )
    assert uuid in resubmitted and ran == ["ingest"]
    with session_scope() as s:
        unit, row = s.get(Unit, uuid), s.get(Package, uuid)
        assert unit is not None and unit.status == UnitStatus.COMPLETE, unit and unit.error
        assert row is not None and row.status == PackageStatus.STORED
        size = row.size
    assert final.is_dir() and aipreplace.identity(final) != old_identity
    assert verify_stored_aip(final).problems == ()
    assert "LASTMODDATE" in (final / "data" / f"METS.{uuid}.xml").read_text()
    assert size == stored_size(final)
    assert [p for p in leftovers(aip_store) if uuid in p.name] == []
