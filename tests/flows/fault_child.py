"""Run a transfer or an ingest in this process until ``CUSTOS_FAULT`` kills it (crash tests).

    python fault_child.py transfer UNIT_UUID
    python fault_child.py ingest SIP_UUID
    python fault_child.py reingest SIP_UUID
    python fault_child.py capture CAPTURE_UUID

The database and home come from the environment (the test session's); the steps
run inline, as the reconciler's resubmission runs them. Exits 0 if the fault point
was never reached.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv: list[str]) -> int:
    what, uuid = argv[:2]
    if what == "ingest":
        from flows.ingest import ingest

        ingest.fn(uuid)
    elif what == "reingest":
        from flows.reingest import reingest

        reingest.fn(uuid)
    elif what == "capture":
        from custos import dispatch
        from flows.capture import capture
        from tests.support.recording import RecordingBackend

        dispatch.set_backend(RecordingBackend())  # the ingest is not run here
        capture.fn(uuid)
    else:
        from custos import dispatch
        from flows.transfer import run_transfer
        from tests.support.recording import RecordingBackend

        dispatch.set_backend(RecordingBackend())  # the ingest is not run here
        run_transfer(uuid, use_prefect=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
