"""The reconcile flow: resubmits units whose flow run died (see ``custos.reconciler``).

``custos serve`` runs it at start-up and the runner schedules it every
``CUSTOS_RECONCILE_INTERVAL`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from prefect import flow

from custos import reconciler
from custos.db import get_engine
from custos.dispatch import inline_backend
from custos.settings import get_settings


def liveness() -> Callable[[str], bool]:
    """How to tell a live flow run for the configured dispatch backend."""
    settings = get_settings()
    if settings.dispatch == "inline":
        return inline_backend().is_alive
    from custos.runtime.liveness import PrefectLiveness, runner_started_at

    return PrefectLiveness(runner_start=runner_started_at(settings.run_dir))


@flow(name="reconcile", log_prints=True)
def reconcile(grace_seconds: float = reconciler.DEFAULT_GRACE.total_seconds()) -> list[str]:
    """Resubmit lost units; returns their uuids."""
    resubmitted = reconciler.reconcile(get_engine(), liveness(),
                                      grace=timedelta(seconds=grace_seconds))
    print(f"resubmitted {len(resubmitted)} lost unit(s): {', '.join(resubmitted) or '-'}")
    return resubmitted

