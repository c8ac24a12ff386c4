"""Prefect's environment: offline and quiet in every process, and the children of
``custos serve``.

``OFFLINE`` is the one place that turns Prefect's telemetry and analytics off
(there may be no network, and their failures print error lines) and forbids its
ephemeral mode (a temporary server per process: 6-8 s before any work, runs that
no dashboard shows). ``quiet_prefect`` applies it to this process; ``custos``
calls it when it is imported, so it holds before Prefect is imported by any
command, the API, the runner or the tests. A variable the operator set wins.

Every child of ``custos serve`` also gets its Prefect home under the Custos home
and the API URL of the one Prefect server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from custos.settings import Settings

#: Variables that keep Prefect quiet and offline, set for every process.
OFFLINE = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
    "PREFECT_CLI_PROMPT": "false",
}


def quiet_prefect(environ: MutableMapping[str, str] | None = None) -> None:
    """Set ``OFFLINE`` in ``environ`` (this process' by default) where not set already."""
    target = os.environ if environ is None else environ
    for name, value in OFFLINE.items():
        target.setdefault(name, value)


def external_prefect_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The Prefect API URL the operator configured, if any (then no server is started)."""
    value = (environ if environ is not None else os.environ).get("PREFECT_API_URL", "")
    return value.strip() or None


def prefect_api_url(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The Prefect API every process talks to."""
    return external_prefect_url(environ) or settings.prefect_api_url


def child_env(settings: Settings, api_url: str, **extra: str) -> dict[str, str]:
    """A copy of this process' environment for a child of ``custos serve``."""
    env = dict(os.environ)
    env.update(OFFLINE)
    env["PREFECT_HOME"] = str(settings.prefect_home)
    env["CUSTOS_HOME"] = str(settings.home)
    # the API's address and port as served (`custos serve --port`): captures refuse them
    env["CUSTOS_HOST"], env["CUSTOS_PORT"] = settings.host, str(settings.port)
    env["CUSTOS_PREFECT_PORT"] = str(settings.prefect_port)
    if settings.database_url:
        env["CUSTOS_DATABASE_URL"] = settings.database_url
    env["PREFECT_API_URL"] = api_url
    env["PREFECT_UI_ENABLED"] = "true" if settings.prefect_ui else "false"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
