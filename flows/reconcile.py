"""The reconcile flow: resubmits units whose flow run died (see ``custos.reconciler``),
then keeps house: the AIP and DIP stores are swept of interrupted stores and
replacements (``tasks.ingest.package.sweep_stores``) and expired idempotency records
are deleted (``custos.housekeeping``).

``custos serve`` runs it at start-up and the runner schedules it every
``CUSTOS_RECONCILE_INTERVAL`` seconds. A pass run by a work pool's worker first deletes the
scheduled chores late by more than two intervals (reconcile, fixity audit, watched
folders: a busy machine's backlog), so the runners and workers, which take the oldest run first,
reach the units' runs instead of one process per missed chore; this pass and the
schedule's next runs do what the late ones would.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from prefect import flow
from sqlalchemy import Engine

from custos import housekeeping, reconciler
from custos.db import get_engine
from custos.dispatch import inline_backend
from custos.settings import get_settings
from tasks.ingest.package import sweep_stores

log = logging.getLogger(__name__)


def liveness() -> reconciler.Liveness:
    """How to tell a live flow run for the configured dispatch backend."""
    settings = get_settings()
    if settings.dispatch == "inline":
        return inline_backend().is_alive
    from custos.runtime.liveness import PrefectLiveness, runner_started_at

    return PrefectLiveness(runner_start=runner_started_at(settings.run_dir))


@flow(name="reconcile", log_prints=True)
def reconcile(grace_seconds: float = reconciler.DEFAULT_GRACE.total_seconds()) -> list[str]:
    """Resubmit lost units, then sweep the stores and purge expired records; returns the
    resubmitted units' uuids."""
    engine = get_engine()
    drop_backlog()
    resubmitted = reconciler.reconcile(engine, liveness(), grace=timedelta(seconds=grace_seconds))
    print(f"resubmitted {len(resubmitted)} lost unit(s): {', '.join(resubmitted) or '-'}")
    tidy(engine)
    return resubmitted


def drop_backlog() -> int:
    """In a flow run of a work pool's worker: delete the late scheduled chores (see the
    module doc); returns how many. A failure is logged, never fatal to the pass.

    A run served by ``custos serve``'s runner leaves them: the serve drops them when it
    starts, and its runner, one process, keeps its own slots for the runs it starts.
    """
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    from custos.runtime.liveness import drop_late_schedules

    context = FlowRunContext.get()
    run = getattr(context, "flow_run", None) if context is not None else None
    url = PREFECT_API_URL.value()
    if run is None or not getattr(run, "work_pool_name", None) or not url:
        return 0
    # only runs clearly left behind: one just due is being started by its runner
    late_by = timedelta(seconds=max(60, 2 * get_settings().reconcile_interval))
    try:
        dropped = drop_late_schedules(url, late_by=late_by)
    except Exception:  # a chore: the pass goes on
        log.exception("dropping late scheduled runs failed")
        return 0
    if dropped:
        print(f"dropped {dropped} late scheduled run(s)")
    return dropped


def tidy(engine: Engine) -> None:
    """Housekeeping: the store sweep (it leaves PROCESSING units' leftovers to them) and
    the idempotency purge. A failure is logged, never fatal to the reconcile pass."""
    try:
        swept = sweep_stores(engine)
        for kind in ("finished", "restored", "removed"):
            for path in getattr(swept, kind):
                print(f"store sweep: {kind} {path}")
    except Exception:  # housekeeping must not stop the next pass
        log.exception("sweeping the AIP and DIP stores failed")
    try:
        purged = housekeeping.purge_expired_idempotency(engine)
    except Exception:  # idem
        log.exception("purging expired idempotency records failed")
    else:
        if purged:
            print(f"purged {purged} expired idempotency record(s)")
