"""The ``custos`` work pool: Custos scaled out over ``prefect worker`` processes.

``deployments/prefect.yaml`` declares the flows as deployments of the pool.
``deploy_pool`` (``custos deploy``) creates them from it, with the settings'
schedules (``CUSTOS_RECONCILE_INTERVAL`` ...) and flow limits
(``CUSTOS_FLOW_LIMITS``) instead of the file's defaults; it talks to the Prefect
API directly because ``prefect deploy`` of Prefect 3.8.8 stops after the first
deployment against its own server (its check for online workers sends
``"limit": null``, which the server refuses with a 422). ``custos worker``
starts one worker on a machine: it applies the flow limits again
(``apply_flow_limits``) and runs at most ``CUSTOS_FLOW_RUN_LIMIT`` flow runs at
once (``prefect worker start --limit``). See docs/scale-out.md.

Example::

    deploy_pool(get_settings(), Path("deployments/prefect.yaml"))
    os.execv(argv[0], worker_argv(settings, "ingest-host-2"))
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from custos.dispatch import DEPLOYMENT_NAME, FLOWS, load_flow
from custos.errors import ConfigError
from custos.settings import Settings

POOL = "custos"
#: The flows with a schedule, and the setting giving its interval (seconds).
SCHEDULE_SETTINGS = {
    "fixity-audit": "fixity_audit_interval",
    "watch-transfer-sources": "watch_interval",
    "reconcile": "reconcile_interval",
}


def collision_options(flow_name: str, limit: int | None) -> Any:
    """Prefect's ``ConcurrencyOptions`` for a limited flow: a scheduled flow (audit,
    watch, reconcile) drops a run that finds the previous one still running
    (``CANCEL_NEW``) instead of queueing it, so a slow pass never piles up a backlog
    that keeps workers from the runs of units; other flows queue (None: the default)."""
    if limit is None or flow_name not in SCHEDULE_SETTINGS:
        return None
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions

    return ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def _flow_name(entrypoint: str) -> str:
    """The ``custos.dispatch.FLOWS`` name of a yaml entrypoint (``flows/audit.py:x``)."""
    path, func = entrypoint.split(":")
    module = f"{path.removesuffix('.py').replace('/', '.')}:{func}"
    for name, target in FLOWS.items():
        if target == module:
            return name
    raise ConfigError(f"{entrypoint} is not a flow of custos.dispatch.FLOWS")


def _resolve(value: Any) -> Any:
    """``{{ $VAR }}`` templates of the yaml, from this process' environment (as
    ``prefect deploy`` does); a variable that is not set is a ``ConfigError``."""
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, str) and value.startswith("{{ $") and value.endswith("}}"):
        name = value[4:-2].strip()
        if not os.environ.get(name):
            raise ConfigError(f"{name} is not set (the yaml needs it: {value})")
        return os.environ[name]
    return value


def ensure_pool(pool: str = POOL) -> bool:
    """Create the ``process`` work pool unless it exists; True when created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            return False
    return True


def default_yaml() -> Path:
    """``deployments/prefect.yaml`` of ``CUSTOS_PROJECT_DIR``, else of this source tree."""
    root = os.environ.get("CUSTOS_PROJECT_DIR") or str(Path(__file__).resolve().parents[2])
    return Path(root) / "deployments" / "prefect.yaml"


def deploy_pool(settings: Settings, yaml_path: Path) -> list[str]:
    """Create (or update) every deployment of ``yaml_path`` on the Prefect server;
    returns their names. Schedules and concurrency limits come from ``settings``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    try:
        data = yaml.safe_load(yaml_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {yaml_path}: {exc}") from exc
    pull = _resolve(data.get("pull") or [])
    created = []
    with get_client(sync_client=True) as client:
        for entry in data["deployments"]:
            flow_name = _flow_name(entry["entrypoint"])
            flow: Any = load_flow(flow_name)
            pool = entry["work_pool"]
            every = SCHEDULE_SETTINGS.get(flow_name)
            schedules = (
                [
                    DeploymentScheduleCreate(
                        schedule=IntervalSchedule(
                            interval=timedelta(seconds=getattr(settings, every))
                        )
                    )
                ]
                if every
                else []
            )
            client.create_deployment(
                flow_id=client.create_flow_from_name(flow.name),
                name=entry["name"],
                entrypoint=entry["entrypoint"],
                work_pool_name=pool["name"],
                work_queue_name=pool.get("work_queue_name"),
                job_variables=pool.get("job_variables") or {},
                pull_steps=pull,
                tags=entry.get("tags") or [],
                description=entry.get("description"),
                schedules=schedules,
                concurrency_limit=settings.flow_limits.get(flow_name),
                concurrency_options=collision_options(
                    flow_name, settings.flow_limits.get(flow_name)
                ),
                parameter_openapi_schema=flow.parameters.model_dump_for_openapi(),
                paused=False,
            )
            created.append(f"{flow.name}/{entry['name']}")
    return created


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
                raise ConfigError(f"no deployment {name}: run `custos deploy` first") from exc
            if deployment.work_pool_name != pool:
                raise ConfigError(
                    f"deployment {name} belongs to {deployment.work_pool_name or 'no'} work "
                    f"pool, not {pool} (is `custos serve` serving it?)"
                )
            limit = settings.flow_limits.get(flow_name)
            if deployment.global_concurrency_limit is None and limit is None:
                applied[flow_name] = None
                continue
            client.update_deployment(
                deployment.id,
                DeploymentUpdate(
                    concurrency_limit=limit,
                    concurrency_options=collision_options(flow_name, limit),
                ),
            )
            applied[flow_name] = limit
    return applied
