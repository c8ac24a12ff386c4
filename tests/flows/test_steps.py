"""One way to write a step, one way to run a flow: the walker, its failure policy,
declared retries (with and without Prefect), and ``StepContext.decide``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import NONE
from sqlmodel import col, select

from custos import decisions
from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import Decision, Job, JobStatus, Unit, UnitStatus, UnitType
from custos.recorder import Recorder
from custos.steps import AwaitingDecision, Outcome, StepContext, completed, retry_on, step
from flows.steps import walk

EXTRACT_LINK = "dec97e3c-5598-4b99-b26e-f87a435a6b7f"  # Archivematica's *Extract packages*
YES, NO = "01d80b27-4ad1-4bd1-8f8d-f819f18bf685", "79f1f5af-7694-48a4-b645-e42790bbf870"
YES_NO = {True: "Yes", False: "No"}


class Flaky(Exception):
    """What a retried step raises while the world is flaky."""


def _unit(name: str) -> str:
    with session_scope() as s:
        unit = Unit(unit_type=UnitType.TRANSFER, name=name)
        s.add(unit)
        s.flush()
        return unit.uuid


def _row(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def _jobs(uuid: str) -> list[tuple[str, str, str]]:
    with session_scope() as s:
        rows = s.exec(select(Job).where(col(Job.unit_uuid) == uuid).order_by(col(Job.seq)))
        return [(j.microservice, j.name, str(j.status)) for j in rows]


def _flaky_step(attempts: list[str], failures: int, error: type[Exception] = Flaky) -> Any:
    @task(
        name="Fetch",
        cache_policy=NONE,
        retries=2,
        retry_delay_seconds=0,
        retry_condition_fn=retry_on(Flaky),
    )
    def fetch(unit_uuid: str) -> Outcome:
        attempts.append(unit_uuid)
        if len(attempts) <= failures:
            raise error(f"attempt {len(attempts)} failed")
        return Outcome.CONTINUE

    return fetch


def test_walk_runs_steps_in_order_and_stops_at_wait_or_stop(custos_home: Path) -> None:
    uuid = _unit("walked")
    ran: list[str] = []

    def plain(unit_uuid: str) -> Outcome:
        ran.append("plain")
        return Outcome.CONTINUE

    @task(name="Task step", cache_policy=NONE)
    def as_task(unit_uuid: str) -> Outcome:  # called as a function: no flow run here
        ran.append("task")
        return Outcome.CONTINUE

    def waits(unit_uuid: str) -> Outcome:
        ran.append("waits")
        return Outcome.WAIT

    def stops(unit_uuid: str) -> Outcome:
        ran.append("stops")
        return Outcome.STOP

    timings: dict[str, float] = {}
    assert walk(uuid, (plain, as_task), timings=timings) is Outcome.CONTINUE
    assert set(timings) == {"plain", "Task step"}
    assert walk(uuid, (plain, waits, stops)) is Outcome.WAIT
    assert walk(uuid, (stops, plain)) is Outcome.STOP
    assert ran == ["plain", "task", "plain", "waits", "stops"]
    assert _row(uuid).status == UnitStatus.PROCESSING and _jobs(uuid) == []


@pytest.mark.parametrize("error", [InvalidInput("objects/a.txt: not allowed"), KeyError("a bug")])
def test_a_failing_step_fails_the_unit_naming_the_step_and_raises(
    custos_home: Path, error: Exception
) -> None:
    uuid = _unit("failing")
    after: list[str] = []

    @task(name="Verify transfer compliance", cache_policy=NONE)
    def verify(unit_uuid: str) -> Outcome:
        raise error

    def never(unit_uuid: str) -> Outcome:
        after.append(unit_uuid)
        return Outcome.CONTINUE

    with pytest.raises(type(error)):
        walk(uuid, (verify, never))
    unit = _row(uuid)
    assert unit.status == UnitStatus.FAILED
    assert unit.error == f"Verify transfer compliance: {error}"
    assert _jobs(uuid) == [("Failed transfer", "Cleanup failed Transfer", "FAILED")]
    assert after == []


def test_declared_retries_apply_without_prefect(custos_home: Path) -> None:
    attempts: list[str] = []
    uuid = _unit("flaky")
    assert walk(uuid, (_flaky_step(attempts, failures=2),)) is Outcome.CONTINUE
    assert len(attempts) == 3 and _row(uuid).status == UnitStatus.PROCESSING

    attempts.clear()
    with pytest.raises(Flaky, match="attempt 3 failed"):  # retries exhausted
        walk(uuid, (_flaky_step(attempts, failures=3),))
    assert len(attempts) == 3 and _row(uuid).status == UnitStatus.FAILED

    attempts.clear()
    other = _unit("not-flaky")
    with pytest.raises(InvalidInput):  # not what the task retries: one attempt
        walk(other, (_flaky_step(attempts, failures=1, error=InvalidInput),))
    assert len(attempts) == 1 and _row(other).status == UnitStatus.FAILED


def test_declared_retries_apply_in_a_prefect_flow_run(
    custos_home: Path, prefect_server: str
) -> None:
    attempts: list[str] = []
    flaky = _flaky_step(attempts, failures=2)

    @flow(name="walk-test")
    def walked(unit_uuid: str) -> str:
        return str(walk(unit_uuid, (flaky,)))

    uuid = _unit("prefect-flaky")
    assert walked(uuid) == "continue"
    assert len(attempts) == 3  # Prefect's own retries, decided by retry_on(Flaky)

    attempts.clear()
    not_retried = _flaky_step(attempts, failures=1, error=InvalidInput)

    @flow(name="walk-test-2")
    def walked_once(unit_uuid: str) -> str:
        return str(walk(unit_uuid, (not_retried,)))

    other = _unit("prefect-not-flaky")
    with pytest.raises(InvalidInput):
        walked_once(other)
    assert len(attempts) == 1 and _row(other).status == UnitStatus.FAILED


@dataclass(kw_only=True)
class _Configured(StepContext):
    """A context whose processing configuration is a dict."""

    values: dict[str, Any]

    def configured(self, field_name: str) -> Any:
        return self.values.get(field_name)


def _context(uuid: str, **values: Any) -> _Configured:
    rec = Recorder()
    done, pairs = completed(rec, uuid)
    return _Configured(unit_uuid=uuid, recorder=rec, done=done, done_pairs=pairs, values=values)


def _extract(ctx: StepContext) -> Any:
    return ctx.decide("extract_packages", "Extract packages", "Extract packages?", YES_NO)


def test_decide_takes_the_configuration_records_it_once(custos_home: Path) -> None:
    uuid = _unit("configured")
    assert _extract(_context(uuid, extract_packages=False)) is False
    assert _extract(_context(uuid, extract_packages=False)) is False
    with session_scope() as s:
        jobs = s.exec(select(Job).where(col(Job.unit_uuid) == uuid)).all()
    assert [(j.name, j.output, j.link_uuid, j.status) for j in jobs] == [
        ("Extract packages?", "preconfigured: No", EXTRACT_LINK, JobStatus.COMPLETE)
    ]


def test_decide_asks_then_the_given_answer_wins_over_the_configuration(custos_home: Path) -> None:
    uuid = _unit("asked")
    with pytest.raises(AwaitingDecision):
        _extract(_context(uuid))
    assert step(lambda u: _context(u))(_extract)(uuid) is Outcome.WAIT  # asked once
    with session_scope() as s:
        (asked,) = s.exec(select(Decision).where(col(Decision.unit_uuid) == uuid)).all()
    assert asked.link_uuid == EXTRACT_LINK
    assert asked.choices == [{"id": YES, "label": "Yes"}, {"id": NO, "label": "No"}]
    assert _row(uuid).status == UnitStatus.USER_INPUT

    decisions.answer(asked.job_uuid, NO, resubmit=False)
    assert _extract(_context(uuid, extract_packages=True)) is False  # the answer wins
    assert [name for _, name, _ in _jobs(uuid)] == ["Extract packages?"]  # nothing recorded


def test_a_rejecting_step_stops_the_unit(custos_home: Path) -> None:
    uuid = _unit("rejected")

    def reject(ctx: StepContext) -> None:
        raise ctx.reject()

    assert walk(uuid, (step(StepContext.load)(reject),)) is Outcome.STOP
    assert _row(uuid).status == UnitStatus.REJECTED


def test_the_inline_backend_logs_a_units_failure_without_a_traceback(
    custos_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from custos.dispatch import InlineBackend
    from custos.errors import NotFound

    backend = InlineBackend()
    with caplog.at_level("INFO", logger="custos.dispatch"):
        run = backend.submit("transfer", {"unit_uuid": "no-such-transfer"})
        backend.wait(run, 60)
    assert isinstance(backend.errors[run], NotFound)
    lines = [r for r in caplog.records if r.name == "custos.dispatch"]
    assert [r.getMessage() for r in lines] == [
        "inline flow transfer: transfer no-such-transfer does not exist"
    ]
    assert lines[0].exc_info is None
