"""Is a flow run still alive? The reconciler's question, answered from Prefect.

Prefect marks a run Crashed only when something saw it crash; a runner, worker
or Prefect server killed with ``kill -9`` (or a machine that lost power) leaves
its runs where they were. Every state is resolved here, by who owns the run:

- ``SCHEDULED`` and ``PAUSED``: alive. A runner (or a worker of the pool) picks
  up every scheduled run of its deployments, the new runner of a restarted
  ``custos serve`` included (its deployments keep their ids).
- ``PENDING`` (a runner or worker took it and is starting its process),
  ``RUNNING`` and ``CANCELLING`` (only the runner that started the run can
  stop its process): owned by the process that moved the run into that state.
  For the embedded runner (no work pool) that is the runner whose identity
  ``<home>/run/runner.json`` records (pid, boot id, start time): a state entered
  before the current runner started belongs to a runner that is gone (``custos
  serve`` stops a runner's whole process group and reaps a killed one's at
  start, see ``reap_previous_runner``), so the run is dead, and the verdict is
  ``Verdict.RESTARTED``: the service went down under it, which does not count
  against the unit. For a work-pool run (a worker, maybe on another machine) the
  run is dead once its last sign of life (the state's time, its newest
  ``prefect.flow-run.heartbeat`` event) is older than ``stale_after`` (three
  heartbeat periods: ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, alias
  ``PREFECT_RUNNER_HEARTBEAT_FREQUENCY``, 180 s by default); that verdict is
  ``Verdict.LOST``.
- terminal, unknown, or no such run: ``Verdict.LOST`` (``RESTARTED`` for a run
  this module marked Crashed because its runner was gone: a reconcile pass
  killed between marking and resubmitting is not held against the unit).

A dead ``PENDING`` or ``RUNNING`` run is set to Crashed and a dead
``CANCELLING`` one to Cancelled, so no runner can start it later and the
dashboard tells the same story as the database.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from custos.dispatch import inline_backend
from custos.errors import ConfigError
from custos.models import utcnow
from custos.reconciler import Verdict
from custos.runtime.runner import RUNNER_INFO

log = logging.getLogger(__name__)

ALIVE_STATES = {"SCHEDULED", "PAUSED"}
OWNED_STATES = {"PENDING", "RUNNING", "CANCELLING"}
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
#: The message of the Crashed state set for a run whose runner is gone.
RESTARTED_MESSAGE = "Custos reconciler: its runner stopped (custos serve restarted)"
LOST_MESSAGE = "Custos reconciler: the process running this flow is gone"


@dataclass(frozen=True)
class RunnerIdentity:
    """The embedded runner of this home, as ``<home>/run/runner.json`` records it."""

    pid: int
    boot_id: str
    started_at: datetime


def current_runner(run_dir: Path) -> RunnerIdentity | None:
    """The identity of the runner that runs (or last ran) from this home."""
    try:
        info = json.loads((run_dir / RUNNER_INFO).read_text())
        return RunnerIdentity(
            pid=int(info["pid"]),
            boot_id=str(info.get("boot_id", "")),
            started_at=_aware(datetime.fromisoformat(info["started_at"])),  # type: ignore[arg-type]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def runner_started_at(run_dir: Path) -> datetime | None:
    """When the current embedded runner started, if one runs from this home."""
    runner = current_runner(run_dir)
    return runner.started_at if runner else None


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            # fields after the command name (which may hold spaces and parentheses)
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                members.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return members


def _belongs_to(pid: int, home: Path) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"CUSTOS_HOME={home}".encode() in environ


def reap_previous_runner(run_dir: Path, home: Path) -> list[int]:
    """Kill what is left of the previous runner of this home (``SIGKILL``); the pids killed.

    A runner dies with its ``custos serve``, but the flow-run processes it started
    may outlive it when only the serve was killed. Its process group (its pid) is
    killed, but only the members whose environment names this home (a pid reused
    by another program is left alone). Called by ``custos serve`` before it starts
    a new runner, so no run of an earlier runner can still be executing.
    """
    runner = current_runner(run_dir)
    if runner is None or runner.pid == os.getpid() or not Path("/proc").is_dir():
        return []
    killed = []
    for pid in _group_members(runner.pid):
        if pid != os.getpid() and _belongs_to(pid, home):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    if killed:
        log.warning("killed %d process(es) left by the previous runner: %s", len(killed), killed)
    return killed


def drop_late_schedules(api_url: str, *, late_by: timedelta = timedelta(0), pages: int = 50) -> int:
    """Delete the interval-scheduled runs (reconcile, fixity audit, watched folders)
    whose time passed (while the service was down, or while every worker was busy);
    returns how many.

    Without this a restarted runner would first start one process per missed run
    (a reconcile every few seconds of the outage) before any unit's run; the
    reconcile flow calls it too, for the backlog a busy machine piles up. Only
    ``auto_scheduled`` runs are touched: a unit's run is never dropped, and the
    start-up reconcile plus the schedule's next runs do what the missed ones would.
    With a runner or workers up, only runs late by more than ``late_by`` are dropped:
    one just due is being started, and deleting it under its runner would lose the
    runner's slot for it.
    """
    import httpx

    query: dict[str, Any] = {
        "flow_runs": {
            "state": {"type": {"any_": ["SCHEDULED"]}},
            "expected_start_time": {"before_": (utcnow() - late_by).isoformat()},
        },
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": 200,
    }
    dropped = kept = 0
    for _ in range(pages):
        runs = httpx.post(f"{api_url}/flow_runs/filter", json={**query, "offset": kept}, timeout=30)
        runs.raise_for_status()
        found = runs.json()
        for run in found:
            # (the server cannot filter on it: units' runs are kept and paged over)
            if not run.get("auto_scheduled"):
                kept += 1
            elif httpx.delete(f"{api_url}/flow_runs/{run['id']}", timeout=30).status_code < 300:
                dropped += 1
            else:
                kept += 1
        if len(found) < 200:
            break
    if dropped:
        log.warning("dropped %d scheduled run(s) whose time had passed", dropped)
    return dropped


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def owned_run_verdict(
    *,
    entered: datetime | None,
    last_seen: datetime | None,
    served_by_runner: bool,
    runner_start: datetime | None,
    stale_after: timedelta | None,
    now: datetime,
) -> Verdict:
    """The rule for a ``PENDING``, ``RUNNING`` or ``CANCELLING`` run (pure, testable
    without Prefect): ``entered`` is when it took that state (a Running run: when it
    started), ``last_seen`` its newest sign of life."""
    entered, last_seen = _aware(entered), _aware(last_seen)
    if (
        served_by_runner
        and runner_start is not None
        and entered is not None
        and entered < runner_start
    ):
        return Verdict.RESTARTED
    if stale_after is not None and last_seen is not None and now - last_seen > stale_after:
        return Verdict.LOST
    return Verdict.ALIVE


def running_is_alive(
    *,
    started: datetime | None,
    last_seen: datetime | None,
    served_by_runner: bool,
    runner_start: datetime | None,
    stale_after: timedelta | None,
    now: datetime,
) -> bool:
    """``owned_run_verdict`` as a yes/no, for a ``Running`` run."""
    return (
        owned_run_verdict(
            entered=started,
            last_seen=last_seen,
            served_by_runner=served_by_runner,
            runner_start=runner_start,
            stale_after=stale_after,
            now=now,
        )
        is Verdict.ALIVE
    )


def default_stale_after() -> timedelta | None:
    """Three flow-run heartbeat periods (None when heartbeats are off)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    period = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    return timedelta(seconds=3 * period) if period else None


@dataclass
class PrefectLiveness:
    """``verdict(run_id)`` (also its call) against the Prefect API (``PREFECT_API_URL``).

    Example::

        alive = PrefectLiveness(runner_start=runner_started_at(settings.run_dir))
        reconcile(engine, alive)
    """

    runner_start: datetime | None = None
    stale_after: timedelta | None = None
    mark_dead: bool = True

    def __post_init__(self) -> None:
        if self.stale_after is None:
            self.stale_after = default_stale_after()

    def __call__(self, run_id: str) -> Verdict:
        try:
            flow_run_id = uuid.UUID(run_id)
        except ValueError:  # not a Prefect run
            return Verdict.ALIVE if inline_backend().is_alive(run_id) else Verdict.LOST
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

        try:
            with get_client(sync_client=True) as client:
                try:
                    run = client.read_flow_run(flow_run_id)
                except ObjectNotFound:
                    return Verdict.LOST
                return self._judge(client, run)
        except (PrefectHTTPStatusError, OSError) as exc:
            # without an answer, resubmitting could run a unit twice: no verdict
            raise ConfigError(
                f"Prefect API unreachable while checking run {run_id}: {exc}"
            ) from exc

    def _judge(self, client: Any, run: Any) -> Verdict:
        state = run.state
        kind = state.type.value if state is not None else "UNKNOWN"
        if kind in ALIVE_STATES:
            return Verdict.ALIVE
        if kind not in OWNED_STATES:
            message = getattr(state, "message", None) or ""
            return Verdict.RESTARTED if message == RESTARTED_MESSAGE else Verdict.LOST
        entered = (run.start_time if kind == "RUNNING" else None) or state.timestamp
        verdict = owned_run_verdict(
            entered=entered,
            last_seen=self._last_seen(client, run),
            served_by_runner=run.work_pool_name is None,
            runner_start=self.runner_start,
            stale_after=self.stale_after,
            now=utcnow(),
        )
        if verdict is not Verdict.ALIVE and self.mark_dead:
            self._mark(client, run, kind, verdict)
        return verdict

    def _mark(self, client: Any, run: Any, kind: str, verdict: Verdict) -> None:
        from prefect.states import Cancelled, Crashed

        message = RESTARTED_MESSAGE if verdict is Verdict.RESTARTED else LOST_MESSAGE
        state: Any = (
            Cancelled(message=message) if kind == "CANCELLING" else Crashed(message=message)
        )
        client.set_flow_run_state(run.id, state, force=True)
        log.warning("flow run %s (%s) marked %s: %s", run.id, kind, state.type.value, message)

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
