"""The reconcile flow: resubmits units whose flow run died (see ``custos.reconciler``),
then keeps house: the AIP and DIP stores are swept of interrupted stores and
replacements (``tasks.ingest.package.sweep_stores``) and expired idempotency records
are deleted (``custos.housekeeping``).

``custos serve`` runs it at start-up and the runner schedules it every
``CUSTOS_RECONCILE_INTERVAL`` seconds.
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
    resubmitted = reconciler.reconcile(engine, liveness(), grace=timedelta(seconds=grace_seconds))
    print(f"resubmitted {len(resubmitted)} lost unit(s): {', '.join(resubmitted) or '-'}")
    tidy(engine)
    return resubmitted


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
