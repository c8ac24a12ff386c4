"""The Prefect runner of ``custos serve``: every flow served as a deployment.

Run as ``python -m custos.runtime.runner`` with ``PREFECT_API_URL`` set. Each
flow of ``custos.dispatch.FLOWS`` becomes the deployment
``<flow>/custos``; the audit, watch and reconcile flows get interval schedules
from the settings. Concurrency comes from the settings too: at most
``CUSTOS_FLOW_RUN_LIMIT`` runs at once in this runner, and each flow's
deployment gets its ``CUSTOS_FLOW_LIMITS`` entry as its concurrency limit.
Runs execute in subprocesses of this process (one process group: stopping the
group stops them all), forked from a process that has imported the flows once
(``custos.runtime.warm``) instead of a new interpreter each
(``CUSTOS_FLOW_PROCESS=spawn``: Prefect's own new interpreter).

Before serving, the runner writes ``<home>/run/runner.json`` with its identity:
its pid (its process group), a new boot id and its start time. A flow run still
Pending, Running or Cancelling whose state was entered before that time belonged
to a runner that is gone (see ``custos.runtime.liveness``).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from custos.dispatch import DEPLOYMENT_NAME, FLOWS, load_flow
from custos.models import utcnow
from custos.runtime import warm
from custos.runtime.pool import collision_options
from custos.settings import Settings, get_settings

log = logging.getLogger("custos.runner")

RUNNER_INFO = "runner.json"
#: Seconds between the runner's queries for submitted runs (Prefect's setting takes
#: whole seconds): a run waits half of it on average before it starts, twice per
#: transfer to AIP; each query is one small request to the Prefect server.
POLL_SECONDS = 0.5


def schedules(settings: Settings) -> dict[str, int]:
    """Seconds between runs of the scheduled flows."""
    return {
        "fixity-audit": settings.fixity_audit_interval,
        "watch-transfer-sources": settings.watch_interval,
        "reconcile": settings.reconcile_interval,
    }


def served_flows() -> dict[str, Any]:
    """Every flow of ``custos.dispatch.FLOWS`` (name -> Flow); a flow that does not
    import fails the runner's start, naming it."""
    return {name: load_flow(name) for name in FLOWS}


def deployment_options(name: str, settings: Settings) -> dict[str, Any]:
    """How the flow ``name`` is deployed: named ``custos``, its schedule, its
    concurrency limit (``CUSTOS_FLOW_LIMITS``), unpaused."""
    interval = schedules(settings).get(name)
    return {
        "name": DEPLOYMENT_NAME,
        "interval": timedelta(seconds=interval) if interval else None,
        "tags": ["custos"],
        "concurrency_limit": _limit(name, settings.flow_limits.get(name)),
        "paused": False,  # a previous runner paused them when it stopped
    }


def deployments(settings: Settings) -> list[Any]:
    """One ``RunnerDeployment`` named ``custos`` per flow, with the flow's concurrency
    limit (``CUSTOS_FLOW_LIMITS``) when it has one."""
    return [
        # _sync: never a coroutine, even when called inside an event loop
        flow.to_deployment(**deployment_options(name, settings), _sync=True)
        for name, flow in served_flows().items()
    ]


def runner_for(settings: Settings) -> Any:
    """A Prefect ``Runner`` serving every flow as its deployment.

    Each flow is added with its flow object (``Runner.add_flow``, as ``Flow.serve``
    does), so a run starts by sending the flow to a new process
    (``run_flow_in_subprocess``: the forkserver of ``custos.runtime.warm``), not by
    a new interpreter that loads the flow from its entrypoint (``python -m
    prefect.engine``, what ``prefect.serve`` of deployments does).
    """
    from prefect.runner import Runner

    runner = Runner(
        limit=settings.flow_run_limit, query_seconds=POLL_SECONDS, pause_on_shutdown=True
    )
    for name, flow in served_flows().items():
        runner.add_flow(flow, **deployment_options(name, settings))
    return runner


def _limit(flow_name: str, limit: int | None) -> Any:
    """The deployment's concurrency limit, with the scheduled flows' ``CANCEL_NEW``
    (``custos.runtime.pool.collision_options``)."""
    options = collision_options(flow_name, limit)
    if limit is None or options is None:
        return limit
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    return ConcurrencyLimitConfig(limit=limit, collision_strategy=options.collision_strategy)


def write_runner_info(run_dir: Path, served: list[str]) -> Path:
    """Record this runner's identity (pid, boot id, start time) for the reconciler."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RUNNER_INFO
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "boot_id": str(uuid.uuid4()),
                "started_at": utcnow().isoformat(),
                "deployments": served,
            }
        )
    )
    tmp.replace(path)
    return path


def main() -> None:
    """Serve every available flow until SIGTERM/SIGINT."""
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")  # before Prefect reads it
    import asyncio

    from prefect.exceptions import TerminationSignal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll
    if not os.environ.get("PREFECT_API_URL"):
        raise SystemExit(
            "custos runner: PREFECT_API_URL is not set (refusing Prefect's ephemeral mode)"
        )
    settings = get_settings()
    if settings.flow_process == "forkserver":
        warm.start(warm.use_forkserver(sorted({entry.split(":")[0] for entry in FLOWS.values()})))
    runner = runner_for(settings)
    write_runner_info(settings.run_dir, [f"{name}/{DEPLOYMENT_NAME}" for name in FLOWS])
    log.info("serving %s", ", ".join(f"{name}/{DEPLOYMENT_NAME}" for name in FLOWS))
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal) as exc:
        log.info("received %s, shutting down", type(exc).__name__)


if __name__ == "__main__":
    main()
