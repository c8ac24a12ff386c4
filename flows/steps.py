"""Calling a step the same way in every flow, with Prefect or without it.

Inside a flow run (a served deployment, a work-pool worker) a step is called as the
Prefect task it is, so it shows in the dashboard. Outside one (the inline backend
runs a flow's plain function: ``custos ... --wait`` without a serve, tests, the
benchmarks) it is called as a plain function: no Prefect engine, no Prefect
server, no Prefect output.

Example::

    outcome = call_step(verify_compliance, unit_uuid)
"""

from __future__ import annotations

from typing import Any

from prefect.context import FlowRunContext


def in_flow_run() -> bool:
    """Whether this code runs inside a Prefect flow run."""
    return FlowRunContext.get() is not None


def call_step(step: Any, *args: Any, prefect: bool | None = None) -> Any:
    """Call ``step`` (a Prefect task) as a task in a flow run, as a function outside.

    ``prefect`` forces one or the other (None: decided by ``in_flow_run``).
    """
    use_task = in_flow_run() if prefect is None else prefect
    return step(*args) if use_task else step.fn(*args)
