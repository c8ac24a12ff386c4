"""The reconciler finds lost units and finishes them by resubmitting their flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from custos.db import get_engine, session_scope
from custos.dispatch import load_flow
from custos.models import Unit, UnitStatus, UnitType, utcnow
from custos.reconciler import ATTEMPTS_KEY, MAX_ATTEMPTS, reconcile
from custos.runtime.liveness import running_is_alive


@pytest.fixture
def engine() -> Engine:
    return get_engine()


def _unit(engine: Engine, *, age: timedelta, run_id: str | None = "gone-run",
          attempts: int = 0) -> str:
    then = utcnow() - age
    with session_scope(engine) as s:
        unit = Unit(unit_type=UnitType.HEALTHCHECK, name="lost", status=UnitStatus.PROCESSING,
                    flow_run_id=run_id, created_at=then, updated_at=then, submitted_at=then,
                    variables={ATTEMPTS_KEY: attempts} if attempts else {})
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
    assert fresh not in reconcile(engine, lambda _r: False, submit=submit,
                                  grace=timedelta(seconds=30))
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
    kwargs: dict[str, Any] = {"served_by_runner": True, "runner_start": runner_start,
                              "stale_after": timedelta(minutes=9), "now": now}
    older = now - timedelta(seconds=60)
    assert not running_is_alive(started=older, last_seen=older, **kwargs)
    assert running_is_alive(started=now, last_seen=now, **kwargs)
    # a work-pool run is judged by its heartbeats only
    kwargs["served_by_runner"] = False
    assert running_is_alive(started=older, last_seen=older, **kwargs)
    assert not running_is_alive(started=older, last_seen=now - timedelta(minutes=10),
                                **kwargs)
