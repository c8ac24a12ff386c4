"""``custos serve``: one command for the Prefect server, the runner and the API.

Order of start-up, each step waiting for the previous one to be ready:

1. checks (``preflight``), the home lock, the database (migrated), default
   locations, a warning when virus signatures are test-only or stale
   (``custos.virus_signatures``) and, on first start, an ``admin`` user and API key;
2. the Prefect server (unless ``PREFECT_API_URL`` is set), ready when
   ``/api/health`` answers;
3. the runner serving every flow, ready when its deployments exist (not with
   ``--no-runner``: scaled out, workers of the ``custos`` pool run the flows);
4. the API under uvicorn (``CUSTOS_API_WORKERS`` worker processes, default 2),
   ready when ``/custos/health`` answers;
5. one reconcile run, for units a previous crash left behind;
6. ``<home>/run/serve.json`` (its pid, API and Prefect URLs): the CLI submits its
   work there (``custos.runtime.client``) while the lock is held.

Then it waits: Ctrl-C or SIGTERM stops the children newest first; a child that
dies stops the others and makes ``serve`` fail naming the child and its log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
from sqlmodel import col, select

from custos.accounts import Role, create_api_key, create_user
from custos.db import get_engine, migrate, session_scope
from custos.errors import ConfigError, CustosError
from custos.metrics import metrics_env
from custos.models import User, utcnow
from custos.runtime import preflight
from custos.runtime.children import Child, start_child, stop_all
from custos.runtime.client import ServeInfo as ClientInfo
from custos.runtime.client import remove_serve_info, write_serve_info
from custos.runtime.env import child_env, external_prefect_url, prefect_api_url
from custos.runtime.lock import HomeLock
from custos.settings import Settings
from custos.virus_signatures import startup_messages

SERVER_TIMEOUT = 120.0
CHILD_TIMEOUT = 60.0
API_WORKERS_ENV = "CUSTOS_API_WORKERS"
DEFAULT_API_WORKERS = 2
MAX_API_WORKERS = 64


def api_workers(environ: dict[str, str] | None = None) -> int:
    """Number of uvicorn worker processes of the API (``CUSTOS_API_WORKERS``).

    Several workers let API requests use several cores (one Python process is
    bound to one by the GIL); each keeps its own short credential cache. Default
    ``DEFAULT_API_WORKERS``; anything but an integer 1-64 is a ``ConfigError``.
    """
    if environ is None:  # the one Settings object (its validation names the variable)
        from custos.settings import get_settings

        return get_settings().api_workers
    raw = environ.get(API_WORKERS_ENV, "").strip()
    if not raw:
        return DEFAULT_API_WORKERS
    try:
        workers = int(raw)
    except ValueError:
        workers = 0
    if not 1 <= workers <= MAX_API_WORKERS:
        raise ConfigError(
            f"{API_WORKERS_ENV} must be an integer from 1 to {MAX_API_WORKERS}, not {raw!r}"
        )
    return workers


@dataclass
class ServeInfo:
    """What an operator (or a script) needs to know once everything is up."""

    api_url: str
    docs_url: str
    dashboard_url: str
    prefect_api_url: str
    home: str
    admin_key: str | None = None
    served: list[str] = field(default_factory=list)


def setup_home(settings: Settings) -> None:
    """Migrate the database and create the default locations (both idempotent)."""
    from custos.storage import ensure_default_locations

    engine = get_engine(settings.db_url)
    migrate(engine)
    ensure_default_locations(settings, engine)


def first_admin_key(settings: Settings) -> str | None:
    """On first start (no admin user yet) create ``admin`` and return its new key."""
    engine = get_engine(settings.db_url)
    with session_scope(engine) as s:
        has_admin = s.exec(select(User).where(col(User.role) == Role.ADMIN)).first()
    if has_admin is not None:
        return None
    user = create_user("admin", role=Role.ADMIN, engine=engine)
    assert user.id is not None
    return create_api_key(user.id, label="first start", engine=engine)


def _wait_http(
    url: str,
    child: Child,
    timeout: float,
    stop: threading.Event,
    ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
) -> None:
    """Poll ``url`` until ``ok``; fail if the child dies or time runs out; quit on stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        code = child.exited()
        if code is not None:
            raise ConfigError(
                f"{child.name} exited with code {code} during start-up "
                f"(see {child.log_path}): {child.log_tail(1)}"
            )
        try:
            if ok(httpx.get(url, timeout=2.0)):
                return
        except httpx.HTTPError:
            pass
        stop.wait(0.25)
    if stop.is_set():
        return
    raise ConfigError(
        f"{child.name} did not become ready within {timeout:.0f} s (see {child.log_path})"
    )


def _deployments_ready(
    api_url: str, names: list[str], runner_pid: int, run_dir: Path
) -> Callable[[httpx.Response], bool]:
    """Ready once this runner wrote its info file and every deployment exists."""

    def ready(_: httpx.Response) -> bool:
        from custos.runtime.runner import RUNNER_INFO

        try:
            if json.loads((run_dir / RUNNER_INFO).read_text()).get("pid") != runner_pid:
                return False
        except (OSError, ValueError):
            return False
        found = httpx.post(
            f"{api_url}/deployments/filter",
            json={"deployments": {"name": {"any_": ["custos"]}}},
            timeout=5,
        )
        if found.status_code != 200:
            return False
        return len(found.json()) >= len(names)

    return ready


class Serve:
    """The running serve command; ``run()`` blocks until stopped.

    Example::

        Serve(load_settings(port=8000), on_ready=print_urls).run()
    """

    def __init__(
        self,
        settings: Settings,
        on_ready: Callable[[ServeInfo], None],
        on_message: Callable[[str], None] = lambda _m: None,
        *,
        runner: bool = True,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.on_ready = on_ready
        self.say = on_message
        self.children: list[Child] = []
        self._stop = threading.Event()
        self._signal: int | None = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._signal = signum
        self._stop.set()

    def run(self) -> int:
        """Start everything, wait for a signal or a dead child, stop everything."""
        s = self.settings
        preflight.check_home(s.home)
        lock = HomeLock(s.run_dir)
        lock.acquire()
        old = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run_locked()
        finally:
            remove_serve_info(s.run_dir)
            stop_all(self.children)
            for sig, handler in old.items():
                signal.signal(sig, handler)
            lock.release()

    def _run_locked(self) -> int:
        s = self.settings
        workers = api_workers()  # a bad value fails before anything starts
        start_server = external_prefect_url() is None
        preflight.check_port_free(s.host, s.port, "API")
        if start_server:
            preflight.check_port_free(s.prefect_host, s.prefect_port, "Prefect server")
        setup_home(s)
        for line in startup_messages(s):  # test-only or stale virus signatures
            self.say(line)
        api_url = prefect_api_url(s)
        # this process talks to Prefect too (flow imports, start-up reconcile): never
        # let it fall back on an ephemeral server
        os.environ.update(child_env(s, api_url))
        logs = s.home / "logs"
        py = sys.executable
        if start_server:
            self.say(f"starting the Prefect server on {api_url} ...")
            server = self._start(
                "prefect-server",
                [
                    py,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    s.prefect_host,
                    "--port",
                    str(s.prefect_port),
                ],
                child_env(s, api_url),
                logs,
            )
            _wait_http(f"{api_url}/health", server, SERVER_TIMEOUT, self._stop)
        if self._stop.is_set():
            return 0
        from custos.dispatch import FLOWS

        names = sorted(FLOWS)
        if self.runner:
            from custos.runtime.liveness import drop_late_schedules, reap_previous_runner

            reap_previous_runner(s.run_dir, s.home)  # flow runs a killed serve left running
            try:
                drop_late_schedules(api_url)  # the units' runs first, not a backlog of chores
            except httpx.HTTPError as exc:
                self.say(f"warning: missed scheduled runs not dropped: {exc!r}")
            self._start_runner(api_url, names, logs)
        if self._stop.is_set():
            return 0
        self.say("starting the API ...")
        api = self._start(
            "api",
            [py, "-m", "custos.runtime.serve", s.host, str(s.port), str(workers)],
            child_env(s, api_url, CUSTOS_DISPATCH="prefect", **metrics_env(s)),
            logs,
        )
        base = f"http://{s.host}:{s.port}"
        _wait_http(f"{base}/custos/health", api, CHILD_TIMEOUT, self._stop)
        if self._stop.is_set():
            return 0
        self._reconcile_now(names)
        admin_key = first_admin_key(s)  # only now: a failed start must not lose the key
        dashboard = api_url.removesuffix("/api") if s.prefect_ui or not start_server else ""
        write_serve_info(
            s.run_dir,
            ClientInfo(
                pid=os.getpid(),
                prefect_api_url=api_url,
                api_url=base,
                started_at=utcnow().isoformat(),
            ),
        )
        self.on_ready(
            ServeInfo(
                api_url=base,
                docs_url=f"{base}/docs",
                dashboard_url=dashboard or "(Prefect UI disabled)",
                prefect_api_url=api_url,
                home=str(s.home),
                admin_key=admin_key,
                served=names if self.runner else [],
            )
        )
        return self._watch()

    def _start_runner(self, api_url: str, names: list[str], logs: Path) -> None:
        """Start the runner serving every flow and wait for its deployments."""
        s = self.settings
        self.say("starting the runner ...")
        runner = self._start(
            "runner",
            [sys.executable, "-m", "custos.runtime.runner"],
            child_env(s, api_url, PREFECT_RUNNER_POLL_FREQUENCY="1"),
            logs,
        )
        _wait_http(
            f"{api_url}/health",
            runner,
            CHILD_TIMEOUT,
            self._stop,
            ok=_deployments_ready(api_url, names, runner.pid, s.run_dir),
        )

    def _start(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> Child:
        child = start_child(name, argv, env, logs)
        self.children.append(child)
        return child

    def _reconcile_now(self, names: list[str]) -> None:
        if "reconcile" not in names:
            return
        from prefect.exceptions import PrefectException, PrefectHTTPStatusError

        from custos.dispatch import PrefectBackend

        try:
            PrefectBackend().submit("reconcile", {})
        except (PrefectException, PrefectHTTPStatusError, httpx.HTTPError) as exc:
            # start-up goes on: the reconcile schedule tries again shortly
            self.say(f"warning: start-up reconcile not submitted: {exc!r}")

    def _watch(self) -> int:
        while not self._stop.wait(0.5):
            for child in self.children:
                code = child.exited()
                if code is not None:
                    self.say(
                        f"error: {child.name} exited with code {code}; stopping "
                        f"(see {child.log_path})"
                    )
                    return 1
        self.say("stopping ...")
        return 0


def run_api(host: str, port: int, workers: int) -> None:
    """Serve ``api.app:create_app`` under uvicorn with ``workers`` processes (blocks).

    The listening socket is bound here as an IPPROTO_TCP socket: uvicorn's own
    ``--workers`` socket has protocol 0, so asyncio does not set TCP_NODELAY on its
    connections and every response written in two parts waits ~40 ms for the
    client's delayed ACK (measured: median 44 ms instead of 1 ms per request).
    """
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "api.app:create_app", factory=True, host=host, port=port, workers=workers, access_log=False
    )
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    if workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()


def serve(
    settings: Settings,
    on_ready: Callable[[ServeInfo], None],
    on_message: Callable[[str], None] = lambda _m: None,
    *,
    runner: bool = True,
) -> int:
    """Run ``custos serve`` until Ctrl-C; returns the exit code.

    Raises a ``CustosError`` with a one-line message for every bad input (missing
    or unwritable home, unreachable database, port in use, a second serve).
    ``runner=False`` (``--no-runner``, scaled out) starts no runner: the flows are
    deployments of the ``custos`` work pool, run by ``custos worker`` processes,
    on the Prefect server ``PREFECT_API_URL`` names.
    """
    try:
        if not runner and external_prefect_url() is None:
            raise ConfigError(
                "--no-runner needs PREFECT_API_URL: the Prefect server the workers poll"
            )
        return Serve(settings, on_ready, on_message, runner=runner).run()
    except CustosError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot start: {exc}") from exc


if __name__ == "__main__":  # the API child of ``custos serve``: HOST PORT WORKERS
    run_api(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
