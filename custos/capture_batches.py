"""Starting the captures of one submission: one flow run for them all.

A capture submitted on its own is a run of the ``capture`` flow. Several made
together (Perma's batch, several URLs in the console) are one run of the
``capture-batch`` flow (``flows.capture_batch``), which captures them on one warm
browser, each still as its own capture flow run::

    made = [create_capture(url, user, submit=False) for url in urls]
    start_captures([c.uuid for c in made])

A submission that fails leaves the units without a flow run: the reconciler
starts each of them on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from custos import dispatch

#: The flow that captures several units in one run.
BATCH_FLOW = "capture-batch"


def start_captures(unit_uuids: Sequence[str]) -> str | None:
    """Start the captures ``unit_uuids``: one capture run, or one batch run for several;
    the run id (None: nothing to start)."""
    uuids = list(dict.fromkeys(unit_uuids))
    if not uuids:
        return None
    if len(uuids) == 1:
        return dispatch.submit("capture", uuids[0])
    return dispatch.submit_units(BATCH_FLOW, uuids)
