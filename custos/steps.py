"""How a step is written, in every flow: one context, one outcome, one way to decide.

A step (one Archivematica microservice group, a capture's page load, ...) is a
function ``step(unit_uuid) -> Outcome`` that works on the whole unit: usually a
Prefect task, so it shows in the dashboard, sometimes a plain function for
bookkeeping. Flows walk their steps in order with ``flows.steps.walk``, which
stops at the first outcome that is not ``Outcome.CONTINUE``.

Most steps are written as ``fn(ctx)`` over a ``StepContext`` built from the
database, and adapted by ``step``::

    @task(name="Extract packages", cache_policy=NONE)
    @step(TransferContext.load)
    def extract_packages(ctx: TransferContext) -> None:
        ctx.record(GROUP, "Move to extract packages")          # done when written
        wanted = ctx.decide("extract_packages", GROUP, "Extract packages?",
                            YES_NO)                              # may end the step
        if wanted and ctx.todo("Extract packages"):              # skip what is done
            ...

``ctx.decide`` returns the answer (one given for this unit, else the processing
configuration's) or asks: it records a USER_INPUT job with the choices and the
step ends with ``Outcome.WAIT``. ``ctx.stop(...)`` ends it with ``Outcome.STOP``
(the unit left the flow: rejected, sent to backlog, a capture that failed as a
recorded result). An exception is a failure: the walker records it and fails
the unit (see ``flows.steps``).

Retries are declared on the Prefect task only where the world is flaky (page
loads): ``retry_condition_fn=retry_on(PageLoadFailed)``. Prefect honours them in
a flow run, the walker outside one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlmodel import col, select

from custos import decisions, processing
from custos.db import session_scope
from custos.models import Job, JobStatus
from custos.recorder import Recorder


class Outcome(StrEnum):
    """What a step (and a walk over steps) ended with."""

    CONTINUE = "continue"  # done: the next step may run
    WAIT = "wait"  # a decision is pending: the flow ends, the unit shows USER_INPUT
    STOP = "stop"  # the unit left the flow (rejected, backlog, a recorded failure)


class AwaitingDecision(Exception):  # a control signal, not an error
    """Raised inside a step when a decision was asked; the step ends with WAIT."""


class UnitStopped(Exception):  # a control signal, not an error
    """Raised inside a step when the unit left the flow; the step ends with STOP."""


#: ``decide(..., preset=CONFIGURED)``: the processing configuration's answer.
CONFIGURED: Any = object()
C = TypeVar("C", bound="StepContext")


@dataclass
class StepContext:
    """One step's view of a unit: what is done, how to record, how to decide.

    ``done`` holds the names of the unit's COMPLETE jobs, ``done_pairs`` their
    (group, name) pairs. Subclasses add what their flow needs (a transfer's folder
    and files, a SIP's options) and answer ``configured`` from their processing
    configuration.
    """

    unit_uuid: str
    recorder: Recorder
    done: set[str] = field(default_factory=set)
    done_pairs: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, unit_uuid: str, recorder: Recorder | None = None) -> StepContext:
        """A bare context of the unit (its completed jobs)."""
        rec = recorder or Recorder()
        return cls(unit_uuid, rec, *completed(rec, unit_uuid))

    def todo(self, name: str) -> bool:
        """True when the job ``name`` has not completed yet for this unit."""
        return name not in self.done

    def record(
        self, group: str, name: str, output: str | None = None, link_uuid: str | None = None
    ) -> None:
        """Record a job that is done when written (moves, no-ops, answers), once per group."""
        if (group, name) not in self.done_pairs:
            self.recorder.record_job(self.unit_uuid, group, name, link_uuid, output=output)
            self.done.add(name)
            self.done_pairs.add((group, name))

    def configured(self, field_name: str) -> Any:
        """The processing configuration's value for ``field_name`` (None: not answered)."""
        return None

    def answered(self, group: str, name: str) -> str | None:
        """The choice id given for the unit's decision ``name``, if any."""
        return decisions.answered(self.unit_uuid, name, self.recorder.engine)

    def decide(
        self,
        field: str | None,
        group: str,
        name: str,
        labels: Mapping[Any, str],
        link_uuid: str | None = None,
        *,
        choices: Mapping[str, Any] | None = None,
        preset: Any = CONFIGURED,
    ) -> Any:
        """The answer to the decision ``name`` of microservice ``group``.

        An answer given for this unit wins, then ``preset`` (by default the
        processing configuration's value of ``field``), recorded as a job
        "preconfigured: ..."; otherwise the decision is asked (a USER_INPUT job
        with its choices) and the step ends with ``Outcome.WAIT``.

        ``field`` names the ``ProcessingConfig`` field that answers it (None: a
        decision no configuration answers); its link (the first, or
        ``link_uuid``) gives the link uuid and, unless ``choices`` (choice id ->
        value) are given, the choices: the values ``labels`` (value -> what the
        user reads) names.
        """
        link = processing.link_for(field, link_uuid) if field else None
        link_id = link.uuid if link is not None else link_uuid
        if choices is None:
            if link is None:
                raise ValueError(f"decision {name!r} needs a field or its choices")
            choices = {chain: value for value, chain in link.choices.items() if value in labels}
        given = self.answered(group, name)
        if given is not None and given in choices:
            return choices[given]
        if preset is CONFIGURED:
            preset = self.configured(field) if field else None
        if preset is not None:
            label = labels.get(preset, str(preset))
            self.record(group, name, output=f"preconfigured: {label}", link_uuid=link_id)
            return preset
        offered = [
            decisions.Choice(choice, labels.get(value, str(value)))
            for choice, value in choices.items()
        ]
        decisions.ask(
            self.recorder,
            self.unit_uuid,
            microservice=group,
            name=name,
            choices=offered,
            link_uuid=link_id,
        )
        raise AwaitingDecision(name)

    def stop(self, reason: str) -> UnitStopped:
        """The signal that ends the step with ``Outcome.STOP`` (``raise ctx.stop(...)``)."""
        return UnitStopped(reason)

    def reject(self, group: str | None = None) -> UnitStopped:
        """Record the rejection (status REJECTED); ``raise ctx.reject(...)`` ends the step."""
        self.recorder.reject_unit(self.unit_uuid, group)
        return UnitStopped("rejected")


def completed(
    recorder: Recorder, unit_uuid: str, *, since: Mapping[str, int] | None = None
) -> tuple[set[str], set[tuple[str, str]]]:
    """The unit's COMPLETE jobs: their names and their (group, name) pairs.

    ``since`` maps a group to a job sequence number: that group's jobs count only
    from there on (a redone normalization runs its jobs again).
    """
    with session_scope(recorder.engine) as s:
        rows = s.exec(
            select(col(Job.microservice), col(Job.name), col(Job.seq)).where(
                col(Job.unit_uuid) == unit_uuid, col(Job.status) == JobStatus.COMPLETE
            )
        ).all()
    since = since or {}
    pairs = {(str(g), str(n)) for g, n, seq in rows if seq > since.get(str(g), -1)}
    return {n for _, n in pairs}, pairs


def step(load: Callable[[str], C]) -> Callable[[Callable[[C], None]], Callable[[str], Outcome]]:
    """Adapt ``fn(ctx)`` to ``step(unit_uuid) -> Outcome`` with the context ``load`` builds.

    ``AwaitingDecision`` becomes ``Outcome.WAIT``, ``UnitStopped`` ``Outcome.STOP``,
    a return ``Outcome.CONTINUE``; any other exception propagates (a failure).
    """

    def adapt(fn: Callable[[C], None]) -> Callable[[str], Outcome]:
        @functools.wraps(fn)
        def run(unit_uuid: str) -> Outcome:
            try:
                fn(load(unit_uuid))
            except AwaitingDecision:
                return Outcome.WAIT
            except UnitStopped:
                return Outcome.STOP
            return Outcome.CONTINUE

        return run

    return adapt


class RetryCondition(Protocol):
    """A Prefect ``retry_condition_fn`` that also names what it retries."""

    exceptions: tuple[type[BaseException], ...]

    def __call__(self, task: Any, task_run: Any, state: Any) -> bool: ...


def retry_on(*exceptions: type[BaseException]) -> RetryCondition:
    """A task's ``retry_condition_fn``: retry only these exceptions.

    Prefect calls it with the failed state in a flow run; ``flows.steps`` reads
    ``exceptions`` to apply the same retries to a step run without Prefect. It is a
    plain function on purpose: Prefect consults a ``retry_condition_fn`` only when
    ``inspect.isfunction`` says it is one (any other callable never retries).
    """

    def condition(_task: Any, _task_run: Any, state: Any) -> bool:
        return isinstance(getattr(state, "data", None), exceptions)

    condition.exceptions = exceptions  # type: ignore[attr-defined]
    return condition  # type: ignore[return-value]


def should_retry(condition: Any, exc: BaseException) -> bool:
    """Whether a step's ``retry_condition_fn`` retries ``exc`` (none given: every error)."""
    if condition is None:
        return isinstance(exc, Exception)
    kinds: Iterable[type[BaseException]] | None = getattr(condition, "exceptions", None)
    if kinds is None:
        return False  # a condition that needs Prefect's state: retried only by Prefect
    return isinstance(exc, tuple(kinds))
