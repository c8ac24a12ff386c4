"""The reconciler finds lost units and finishes them by resubmitting their flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from custos.db import get_engine, session_scope
from custos.dispatch import load_flow
from custos.models import Unit, UnitStatus, UnitType, utcnow
from custos.reconciler import (
    ATTEMPTS_KEY,
    MAX_ATTEMPTS,
    MAX_RESTARTS,
    RESTARTS_KEY,
    Verdict,
    reconcile,
)
from custos.runtime.liveness import owned_run_verdict, running_is_alive


@pytest.fixture
def engine() -> Engine:
    return get_engine()


def _unit(
    engine: Engine, *, age: timedelta, run_id: str | None = "gone-run", attempts: int = 0
) -> str:
    then = utcnow() - age
    with session_scope(engine) as s:
        unit = Unit(
            unit_type=UnitType.HEALTHCHECK,
            name="lost",
            status=UnitStatus.PROCESSING,
            flow_run_id=run_id,
            created_at=then,
            updated_at=then,
            submitted_at=then,
            variables={ATTEMPTS_KEY: attempts} if attempts else {},
        )
        s.add(unit)
        s.flush()
        return unit.uuid


class RunFlowNow:
    """A submit that runs the flow's body at once (no Prefect engine) and records calls.

    The session database is shared with other tests, whose units may look lost too:
    only this test's own healthcheck units are run; others are merely recorded
    (running another test's transfer here would act on a stranger's folder).
    """

    def __init__(self, *own: str) -> None:
        self.own = set(own)
        self.calls: list[tuple[str, str]] = []

    def __call__(self, flow_name: str, unit_uuid: str, **_: Any) -> str:
        self.calls.append((flow_name, unit_uuid))
        if unit_uuid in self.own and flow_name == "healthcheck":
            load_flow(flow_name).fn(unit_uuid)  # type: ignore[attr-defined]
        return "run-" + unit_uuid


def _status(engine: Engine, unit_uuid: str) -> tuple[str, str | None]:
    with session_scope(engine) as s:
        unit = s.get(Unit, unit_uuid)
        assert unit is not None
        return str(unit.status), unit.error


def test_lost_unit_is_resubmitted_and_completes(engine: Engine) -> None:
    lost = _unit(engine, age=timedelta(minutes=5))
    alive = _unit(engine, age=timedelta(minutes=5), run_id="alive-run")
    submit = RunFlowNow(lost, alive)
    done = reconcile(engine, lambda run_id: run_id == "alive-run", submit=submit)
    assert lost in done and alive not in done
    assert ("healthcheck", lost) in submit.calls
    assert _status(engine, lost) == ("COMPLETE", None)
    assert _status(engine, alive)[0] == "PROCESSING"
    # a second pass finds nothing: the unit is no longer PROCESSING
    assert lost not in reconcile(engine, lambda _r: False, submit=submit)


def test_recent_activity_is_left_alone(engine: Engine) -> None:
    fresh = _unit(engine, age=timedelta(seconds=1), run_id=None)
    submit = RunFlowNow(fresh)
    assert fresh not in reconcile(
        engine, lambda _r: False, submit=submit, grace=timedelta(seconds=30)
    )
    assert fresh not in [u for _f, u in submit.calls]


def test_unit_lost_too_often_is_failed(engine: Engine) -> None:
    doomed = _unit(engine, age=timedelta(minutes=5), attempts=MAX_ATTEMPTS)
    submit = RunFlowNow(doomed)
    assert doomed not in reconcile(engine, lambda _r: False, submit=submit)
    status, error = _status(engine, doomed)
    assert status == "FAILED"
    assert error is not None and "lost its flow run" in error


def test_running_rule() -> None:
    now = utcnow()
    runner_start = now - timedelta(seconds=10)
    kwargs: dict[str, Any] = {
        "served_by_runner": True,
        "runner_start": runner_start,
        "stale_after": timedelta(minutes=9),
        "now": now,
    }
    older = now - timedelta(seconds=60)
    assert not running_is_alive(started=older, last_seen=older, **kwargs)
    assert running_is_alive(started=now, last_seen=now, **kwargs)
    # a work-pool run is judged by its heartbeats only
    kwargs["served_by_runner"] = False
    assert running_is_alive(started=older, last_seen=older, **kwargs)
    assert not running_is_alive(started=older, last_seen=now - timedelta(minutes=10), **kwargs)


def test_unit_without_a_flow_run_is_submitted_and_never_counted(engine: Engine) -> None:
    """An answer recorded whose submission failed: not lost, however often it is seen."""
    unsent = _unit(engine, age=timedelta(minutes=5), run_id=None)
    now = utcnow()
    for _ in range(MAX_ATTEMPTS + 2):
        submit = RunFlowNow()  # records only: the unit stays without a run
        now += timedelta(minutes=1)
        assert unsent in reconcile(engine, lambda _r: False, submit=submit, now=now)
        assert ("healthcheck", unsent) in submit.calls
    with session_scope(engine) as s:
        unit = s.get(Unit, unsent)
        assert unit is not None and unit.status == UnitStatus.PROCESSING
        assert ATTEMPTS_KEY not in (unit.variables or {})


def test_an_answer_whose_submission_failed_is_resumed_not_lost(engine: Engine) -> None:
    from custos import dispatch
    from custos.decisions import Choice, answer, ask
    from custos.errors import ConfigError
    from custos.recorder import Recorder

    waiting = _unit(engine, age=timedelta(minutes=5), run_id="finished-run")
    ask(
        Recorder(engine),
        waiting,
        microservice="Healthcheck",
        name="Go on?",
        choices=[Choice("yes", "Yes")],
    )

    class Down:
        def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
            raise ConfigError("Prefect is down")

    dispatch.set_backend(Down())
    try:
        with pytest.raises(ConfigError):
            answer(waiting_job(engine, waiting), "yes")
    finally:
        dispatch.set_backend(None)
    with session_scope(engine) as s:
        unit = s.get(Unit, waiting)
        assert unit is not None and unit.status == UnitStatus.PROCESSING
        assert unit.flow_run_id is None  # the answer is kept; no run was created
    submit = RunFlowNow(waiting)
    later = utcnow() + timedelta(minutes=1)
    assert waiting in reconcile(engine, lambda _r: False, submit=submit, now=later)
    assert _status(engine, waiting) == ("COMPLETE", None)


def waiting_job(engine: Engine, unit_uuid: str) -> str:
    from sqlmodel import col, select

    from custos.models import Decision

    with session_scope(engine) as s:
        row = s.exec(select(Decision).where(col(Decision.unit_uuid) == unit_uuid)).one()
        return row.job_uuid


def test_losses_count_only_in_a_row_without_progress(engine: Engine) -> None:
    from custos.recorder import Recorder

    unit = _unit(engine, age=timedelta(minutes=5))
    now = utcnow()
    for step in range(MAX_ATTEMPTS + 2):  # lost again and again, but further each time
        Recorder(engine).record_job(unit, "Healthcheck", f"step {step}")
        now += timedelta(minutes=1)
        assert unit in reconcile(engine, lambda _r: False, submit=RunFlowNow(), now=now)
    with session_scope(engine) as s:
        row = s.get(Unit, unit)
        assert row is not None and row.status == UnitStatus.PROCESSING
        assert row.variables[ATTEMPTS_KEY] == 1
    for _ in range(MAX_ATTEMPTS - 1):  # now stuck where it is
        now += timedelta(minutes=1)
        assert unit in reconcile(engine, lambda _r: False, submit=RunFlowNow(), now=now)
    now += timedelta(minutes=1)
    assert unit not in reconcile(engine, lambda _r: False, submit=RunFlowNow(), now=now)
    assert _status(engine, unit)[0] == "FAILED"


def test_owned_states_are_judged_by_their_runner() -> None:
    """Pending, Running and Cancelling belong to the runner that put the run there."""
    now = utcnow()
    runner_start = now - timedelta(seconds=10)
    kwargs: dict[str, Any] = {"runner_start": runner_start, "now": now}
    stale = timedelta(minutes=9)
    before, after = now - timedelta(seconds=60), now - timedelta(seconds=5)
    # the embedded runner: a state entered under an earlier runner is a restart
    assert (
        owned_run_verdict(
            entered=before, last_seen=before, served_by_runner=True, stale_after=None, **kwargs
        )
        is Verdict.RESTARTED
    )
    assert (
        owned_run_verdict(
            entered=after, last_seen=after, served_by_runner=True, stale_after=stale, **kwargs
        )
        is Verdict.ALIVE
    )
    # a worker's run: alive while its heartbeats are fresh, then lost
    assert (
        owned_run_verdict(
            entered=before, last_seen=after, served_by_runner=False, stale_after=stale, **kwargs
        )
        is Verdict.ALIVE
    )
    assert (
        owned_run_verdict(
            entered=before,
            last_seen=now - timedelta(minutes=10),
            served_by_runner=False,
            stale_after=stale,
            **kwargs,
        )
        is Verdict.LOST
    )


def test_whole_service_restarts_do_not_count_as_losses(engine: Engine) -> None:
    """Power cuts: a unit running when everything stopped is resubmitted every time
    (up to MAX_RESTARTS in a row without progress), never failed after MAX_ATTEMPTS."""
    unit = _unit(engine, age=timedelta(minutes=5))
    now = utcnow()
    for _ in range(MAX_RESTARTS):
        now += timedelta(minutes=1)
        assert unit in reconcile(engine, lambda _r: Verdict.RESTARTED, submit=RunFlowNow(), now=now)
    with session_scope(engine) as s:
        row = s.get(Unit, unit)
        assert row is not None and row.status == UnitStatus.PROCESSING
        assert row.variables[RESTARTS_KEY] == MAX_RESTARTS
        assert ATTEMPTS_KEY not in row.variables
    # a unit that takes the whole service down every time still ends
    now += timedelta(minutes=1)
    assert unit not in reconcile(engine, lambda _r: Verdict.RESTARTED, submit=RunFlowNow(), now=now)
    status, error = _status(engine, unit)
    assert status == "FAILED" and error is not None and "whole service" in error


def test_alive_verdict_is_left_alone(engine: Engine) -> None:
    unit = _unit(engine, age=timedelta(minutes=5), run_id="scheduled-run")
    submit = RunFlowNow()
    assert unit not in reconcile(engine, lambda _r: Verdict.ALIVE, submit=submit)
    assert submit.calls == [] or unit not in [u for _f, u in submit.calls]


@pytest.mark.server
def test_prefect_states_left_by_a_killed_runner(prefect_server: str) -> None:
    """Against a real Prefect server: runs a killed runner left Pending, Running or
    Cancelling are dead (and set Crashed or Cancelled so no runner starts them);
    Scheduled runs are alive (the new runner picks them up)."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling, Pending, Running, Scheduled

    from custos.runtime.liveness import RESTARTED_MESSAGE, PrefectLiveness

    @flow(name="liveness-probe")
    def probe() -> None:
        return None

    with get_client(sync_client=True) as client:
        runs = {
            name: client.create_flow_run(probe, state=state)
            for name, state in {
                "scheduled": Scheduled(),
                "pending": Pending(),
                "running": Running(),
                "cancelling": Cancelling(),
            }.items()
        }
        later = utcnow() + timedelta(seconds=1)  # the current runner started after them
        judge = PrefectLiveness(runner_start=later, stale_after=timedelta(minutes=9))
        verdicts = {name: judge(str(run.id)) for name, run in runs.items()}
        assert verdicts == {
            "scheduled": Verdict.ALIVE,
            "pending": Verdict.RESTARTED,
            "running": Verdict.RESTARTED,
            "cancelling": Verdict.RESTARTED,
        }
        states = {name: client.read_flow_run(run.id).state for name, run in runs.items()}
        assert states["pending"].type.value == "CRASHED"
        assert states["running"].type.value == "CRASHED"
        assert states["cancelling"].type.value == "CANCELLED"
        assert states["pending"].message == RESTARTED_MESSAGE
        # seen again (a reconcile pass killed before resubmitting): still a restart
        assert judge(str(runs["pending"].id)) is Verdict.RESTARTED
        # under the runner that runs now, a fresh Pending run is being started: alive
        fresh = client.create_flow_run(probe, state=Pending())
        current = PrefectLiveness(
            runner_start=utcnow() - timedelta(minutes=1), stale_after=timedelta(minutes=9)
        )
        assert current(str(fresh.id)) is Verdict.ALIVE
        assert judge("5f1d0d4e-0000-4000-8000-000000000000") is Verdict.LOST  # never created


def test_late_scheduled_chores_are_dropped_and_units_runs_kept(prefect_server: str) -> None:
    """Against a real Prefect server: the schedule's runs whose time passed are deleted
    (a busy machine's backlog of chores); its future runs and a unit's run are kept."""
    import httpx
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule
    from prefect.states import Scheduled

    from custos.runtime.liveness import drop_late_schedules

    @flow(name="chore-probe")
    def chore() -> None:
        return None

    now = utcnow()
    with get_client(sync_client=True) as client:
        deployment = client.create_deployment(
            flow_id=client.create_flow_from_name("chore-probe"),
            name="late",
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(
                        interval=timedelta(minutes=1), anchor_date=now - timedelta(hours=1)
                    ),
                )
            ],
            paused=False,
        )
        unit_run = client.create_flow_run(
            chore, state=Scheduled(scheduled_time=now - timedelta(minutes=3))
        )
    res = httpx.post(
        f"{prefect_server}/deployments/{deployment}/schedule",
        json={
            "start_time": (now - timedelta(minutes=5)).isoformat(),
            "end_time": (now + timedelta(minutes=3)).isoformat(),
            "min_runs": 1,
            "max_runs": 20,
        },
    )
    assert res.status_code < 300, res.text

    def runs() -> dict[str, bool]:
        found = httpx.post(
            f"{prefect_server}/flow_runs/filter",
            json={"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}, "limit": 200},
        ).json()
        return {
            r["id"]: r["expected_start_time"] < utcnow().isoformat()
            for r in found
            if r["deployment_id"] == str(deployment) or r["id"] == str(unit_run.id)
        }

    before = runs()
    late = {i for i, past in before.items() if past} - {str(unit_run.id)}
    assert late and any(not past for past in before.values())  # some late, some to come
    assert drop_late_schedules(prefect_server, late_by=timedelta(hours=2)) == 0  # none so late
    assert drop_late_schedules(prefect_server) >= len(late)
    after = runs()
    assert str(unit_run.id) in after  # a unit's run is never dropped
    assert not late & set(after)
    assert {i for i, past in before.items() if not past} <= set(after)
