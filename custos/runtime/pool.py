"""The ``custos`` work pool: Custos scaled out over ``prefect worker`` processes.

``deployments/prefect.yaml`` declares the flows as deployments of the pool
(``prefect deploy``); ``custos worker`` starts one worker on a machine. Before it
starts, the worker applies this machine's concurrency settings to the pool's
deployments (``apply_flow_limits``: ``CUSTOS_FLOW_LIMITS`` as each deployment's
concurrency limit) and runs at most ``CUSTOS_FLOW_RUN_LIMIT`` flow runs at once
(``prefect worker start --limit``). See docs/scale-out.md.

Example::

    apply_flow_limits(get_settings())          # after `prefect deploy`
    os.execvpe(argv[0], worker_argv(settings, "ingest-host-2"), env)
"""

from __future__ import annotations

import socket
import sys

from custos.dispatch import DEPLOYMENT_NAME, FLOWS
from custos.errors import ConfigError
from custos.settings import Settings

POOL = "custos"


def worker_argv(settings: Settings, name: str | None = None, pool: str = POOL) -> list[str]:
    """The ``prefect worker start`` command line of one worker of ``pool``."""
    return [
        sys.executable,
        "-m",
        "prefect",
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        "process",
        "--limit",
        str(settings.flow_run_limit),
        "--name",
        name or f"custos-{socket.gethostname()}",
    ]


def apply_flow_limits(settings: Settings, pool: str = POOL) -> dict[str, int | None]:
    """Set each pool deployment's concurrency limit from ``CUSTOS_FLOW_LIMITS``.

    Returns ``flow -> limit`` as applied (None: no limit of its own). A flow of
    ``custos.dispatch.FLOWS`` without a deployment is a ``ConfigError`` naming it
    (``prefect deploy`` was not run, or for another pool).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.exceptions import ObjectNotFound

    applied: dict[str, int | None] = {}
    with get_client(sync_client=True) as client:
        for flow_name in FLOWS:
            name = f"{flow_name}/{DEPLOYMENT_NAME}"
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound as exc:
                raise ConfigError(
                    f"no deployment {name}: run `prefect deploy --prefect-file "
                    "deployments/prefect.yaml --all` first"
                ) from exc
            if deployment.work_pool_name != pool:
                raise ConfigError(
                    f"deployment {name} belongs to {deployment.work_pool_name or 'no'} work "
                    f"pool, not {pool} (is `custos serve` serving it?)"
                )
            limit = settings.flow_limits.get(flow_name)
            if deployment.global_concurrency_limit is None and limit is None:
                applied[flow_name] = None
                continue
            current = getattr(deployment.global_concurrency_limit, "limit", None)
            if current != limit:
                client.update_deployment(deployment.id, DeploymentUpdate(concurrency_limit=limit))
            applied[flow_name] = limit
    return applied
