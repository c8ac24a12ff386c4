"""Environment of the processes ``custos serve`` starts.

Every child gets the same Prefect settings: its home under the Custos home, no
telemetry or analytics (there may be no network), and the API URL of the one
Prefect server. Prefect's ephemeral mode (a temporary server per process) is
never used: a child without ``PREFECT_API_URL`` would silently start one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from custos.settings import Settings

#: Variables that keep Prefect quiet and offline, set for every child.
OFFLINE = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_CLI_PROMPT": "false",
}


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
