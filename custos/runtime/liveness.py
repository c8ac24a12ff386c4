"""Is a flow run still alive? The reconciler's question, answered from Prefect.

Prefect marks a run Crashed only when something saw it crash; a runner killed
with ``kill -9`` (or a machine that lost power) leaves its runs ``Running``
forever. So a ``Running`` run counts as dead when either:

- it was started by the embedded runner (no work pool) before the current
  runner started (``<home>/run/runner.json``): ``custos serve`` stops a runner's
  whole process group, so no run of an earlier runner can still be executing;
- its last sign of life (its Running state or its newest heartbeat event) is
  older than ``stale_after`` (three heartbeat periods by default), which covers
  work-pool workers on other machines.

Scheduled, Pending, Paused and Cancelling runs are alive (a runner or worker
will pick them up); terminal and unknown runs are dead. Dead ``Running`` runs
are set to Crashed so the dashboard tells the same story as the database.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custos.dispatch import inline_backend
from custos.errors import ConfigError
from custos.models import utcnow

log = logging.getLogger(__name__)

ALIVE_STATES = {"SCHEDULED", "PENDING", "PAUSED", "CANCELLING"}
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"


def runner_started_at(run_dir: Path) -> datetime | None:
    """When the current embedded runner started, if one runs from this home."""
    try:
        info = json.loads((run_dir / "runner.json").read_text())
        return datetime.fromisoformat(info["started_at"])
    except (OSError, ValueError, KeyError):
        return None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def running_is_alive(
    *,
    started: datetime | None,
    last_seen: datetime | None,
    served_by_runner: bool,
    runner_start: datetime | None,
    stale_after: timedelta | None,
    now: datetime,
) -> bool:
    """The rule for a ``Running`` run (pure, so it can be tested without Prefect)."""
    started, last_seen = _aware(started), _aware(last_seen)
    if (
        served_by_runner
        and runner_start is not None
        and started is not None
        and started < runner_start
    ):
        return False
    if stale_after is not None and last_seen is not None and now - last_seen > stale_after:
        return False
    return True


@dataclass
class PrefectLiveness:
    """``is_alive(run_id)`` against the Prefect API (``PREFECT_API_URL``).

    Example::

        alive = PrefectLiveness(runner_start=runner_started_at(settings.run_dir))
        reconcile(engine, alive)
    """

    runner_start: datetime | None = None
    stale_after: timedelta | None = None
    mark_crashed: bool = True

    def __post_init__(self) -> None:
        if self.stale_after is None:
            from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

            period = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
            self.stale_after = timedelta(seconds=3 * period) if period else None

    def __call__(self, run_id: str) -> bool:
        try:
            flow_run_id = uuid.UUID(run_id)
        except ValueError:
            return inline_backend().is_alive(run_id)  # not a Prefect run
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

        try:
            with get_client(sync_client=True) as client:
                try:
                    run = client.read_flow_run(flow_run_id)
                except ObjectNotFound:
                    return False
                return self._judge(client, run)
        except (PrefectHTTPStatusError, OSError) as exc:
            # without an answer, resubmitting could run a unit twice: report alive
            raise ConfigError(
                f"Prefect API unreachable while checking run {run_id}: {exc}"
            ) from exc

    def _judge(self, client: Any, run: Any) -> bool:
        state = run.state
        kind = state.type.value if state is not None else "UNKNOWN"
        if kind in ALIVE_STATES:
            return True
        if kind != "RUNNING":
            return False
        alive = running_is_alive(
            started=run.start_time or state.timestamp,
            last_seen=self._last_seen(client, run),
            served_by_runner=run.work_pool_name is None,
            runner_start=self.runner_start,
            stale_after=self.stale_after,
            now=utcnow(),
        )
        if not alive and self.mark_crashed:
            from prefect.states import Crashed

            client.set_flow_run_state(
                run.id,
                Crashed(message="Custos reconciler: the process running this flow is gone"),
                force=True,
            )
            log.warning("flow run %s marked Crashed", run.id)
        return alive

    def _last_seen(self, client: Any, run: Any) -> datetime | None:
        from prefect.events.filters import (
            EventFilter,
            EventNameFilter,
            EventOccurredFilter,
            EventResourceFilter,
        )

        seen: datetime | None = _aware(run.state.timestamp)
        if self.stale_after is None:
            return seen
        page = client.read_events(
            EventFilter(
                event=EventNameFilter(name=[HEARTBEAT_EVENT]),
                resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
                occurred=EventOccurredFilter(since=utcnow() - 2 * self.stale_after),  # type: ignore[arg-type]
            ),
            limit=50,
        )
        for event in page.events:
            occurred = _aware(event.occurred)
            if occurred is not None and (seen is None or occurred > seen):
                seen = occurred
        return seen
