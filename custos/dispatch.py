"""Starting flows without importing them.

``submit(flow_name, unit_uuid)`` starts the named flow for a unit through one of
two backends:

- ``prefect``: ``run_deployment("<flow>/custos", timeout=0)`` on the Prefect server;
  the runner started by ``custos serve`` (or any ``prefect worker`` of the
  ``custos`` pool) picks it up. The CLI gives the serve's Prefect URL
  (``custos.runtime.client``); the API and flows use ``PREFECT_API_URL``.
- ``inline``: the flow's plain function runs in a worker thread of this process
  (tests, and ``custos ... --wait`` without a serve): no Prefect engine, no
  Prefect server, no Prefect output; the flows call their steps as functions
  outside a flow run (``flows.steps``).

The API and the CLI call this module and never import ``flows``: the flows are
named by entrypoint strings, the same ones ``deployments/prefect.yaml`` declares.
A submission that fails leaves the unit without a flow run (``flow_run_id`` empty):
the reconciler then submits it again without counting it as lost.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col

from custos.db import session_scope
from custos.errors import ConfigError, CustosError, NotFound
from custos.models import Unit, UnitType, utcnow
from custos.settings import get_settings

log = logging.getLogger(__name__)

DEPLOYMENT_NAME = "custos"

#: flow name -> entrypoint ("module:function"); the single list of our flows.
FLOWS: dict[str, str] = {
    "healthcheck": "flows.healthcheck:healthcheck",
    "transfer": "flows.transfer:transfer",
    "ingest": "flows.ingest:ingest",
    "reingest": "flows.reingest:reingest",
    "capture": "flows.capture:capture",
    "capture-batch": "flows.capture_batch:capture_batch",
    "fixity-audit": "flows.audit:fixity_audit",
    "watch-transfer-sources": "flows.watch:watch_transfer_sources",
    "reconcile": "flows.reconcile:reconcile",
}


#: The flow that drives each unit type (resumed after a decision or a crash).
UNIT_FLOWS: dict[UnitType, str] = {
    UnitType.TRANSFER: "transfer",
    UnitType.SIP: "ingest",
    UnitType.CAPTURE: "capture",
    UnitType.HEALTHCHECK: "healthcheck",
}


class Backend(Protocol):
    """How a flow run gets started."""

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str: ...


def load_flow(flow_name: str) -> Callable[..., Any]:
    """Import a flow object by name (workers, the runner and the inline backend)."""
    try:
        module_name, attr = FLOWS[flow_name].split(":")
    except KeyError as exc:
        raise NotFound(f"no flow named {flow_name!r}") from exc
    module = importlib.import_module(module_name)
    flow: Callable[..., Any] = getattr(module, attr)
    return flow


class PrefectBackend:
    """Creates a flow run of the flow's deployment and returns at once.

    ``api_url`` names the Prefect server (the CLI's serve); by default Prefect's
    own setting (``PREFECT_API_URL``) does. Every failure is a one-line
    ``ConfigError`` naming the server.
    """

    def __init__(self, api_url: str | None = None) -> None:
        self.api_url = api_url

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment
        from prefect.exceptions import ObjectNotFound
        from prefect.settings import PREFECT_API_URL, temporary_settings

        name = f"{flow_name}/{DEPLOYMENT_NAME}"
        updates = {PREFECT_API_URL: self.api_url} if self.api_url else {}
        with temporary_settings(updates=updates):
            where = PREFECT_API_URL.value() or "(no PREFECT_API_URL)"
            try:
                run = run_deployment(name, parameters=parameters, timeout=0)
            except ObjectNotFound as exc:
                raise ConfigError(
                    f"the Prefect server at {where} has no deployment {name}: "
                    "is `custos serve` (or a worker of the custos pool) "
                    "running?"
                ) from exc
            except Exception as exc:  # httpx, Prefect and settings errors alike
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ConfigError(
                    f"cannot start {flow_name} through Prefect at {where}: {reason}"
                ) from exc
        assert isinstance(run, FlowRun)  # the sync form returns the run itself
        return str(run.id)


class InlineBackend:
    """Runs the flow's plain function (``flow.fn``) in a daemon thread of this process.

    Threads still running are kept in ``threads`` so tests and ``--wait`` can join
    them, and so the reconciler knows which runs are alive in this process.
    """

    def __init__(self) -> None:
        self.threads: dict[str, threading.Thread] = {}
        self.errors: dict[str, BaseException] = {}

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        flow = load_flow(flow_name)
        body: Callable[..., Any] = getattr(flow, "fn", flow)  # no Prefect engine
        units = parameters.get("unit_uuids")
        unit = parameters.get("unit_uuid") or (f"{len(units)}-units" if units else "")
        run_id = f"inline-{flow_name}-{unit}-{id(parameters):x}"

        def target() -> None:
            try:
                body(**parameters)
            except CustosError as exc:  # the unit's failure, already recorded on it
                self.errors[run_id] = exc
                log.info("inline flow %s: %s", flow_name, exc)
            except BaseException as exc:  # a defect: recorded on the unit, logged in full
                self.errors[run_id] = exc
                log.exception("inline flow %s failed", flow_name)

        thread = threading.Thread(target=target, name=run_id, daemon=True)
        self.threads[run_id] = thread
        thread.start()
        return run_id

    def is_alive(self, run_id: str) -> bool:
        thread = self.threads.get(run_id)
        return bool(thread and thread.is_alive())

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        thread = self.threads.get(run_id)
        if thread is not None:
            thread.join(timeout)

    def wait_all(self, timeout: float | None = None) -> bool:
        """Join every flow thread, including ones started meanwhile (an ingest that a
        transfer submitted), within ``timeout`` seconds in all; False if some still run."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            alive = [t for t in list(self.threads.values()) if t.is_alive()]
            if not alive:
                return True
            if deadline is None:
                alive[0].join()
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            alive[0].join(left)


_inline = InlineBackend()
_override: Backend | None = None


def inline_backend() -> InlineBackend:
    return _inline


def set_backend(backend: Backend | None) -> None:
    """Force a backend for this process (tests, the CLI); None restores settings."""
    global _override
    _override = backend


def forced_backend() -> Backend | None:
    """The backend forced with ``set_backend``, if any."""
    return _override


def current_backend() -> Backend:
    if _override is not None:
        return _override
    choice = get_settings().dispatch
    if choice == "inline":
        return _inline
    if choice == "prefect":
        return PrefectBackend()
    raise ConfigError(f"CUSTOS_DISPATCH: unknown backend {choice!r}")


def submit(flow_name: str, unit_uuid: str | None = None, **parameters: Any) -> str:
    """Start ``flow_name`` (for ``unit_uuid`` when given) and return the run id.

    The run id is stored on the unit so the reconciler can tell live runs from
    lost ones.
    """
    if flow_name not in FLOWS:
        raise NotFound(f"no flow named {flow_name!r}")
    params = dict(parameters)
    if unit_uuid is not None:
        params["unit_uuid"] = unit_uuid
    try:
        run_id = current_backend().submit(flow_name, params)
    except BaseException:
        if unit_uuid is not None:  # not lost: never submitted (see custos.reconciler)
            _set_run(unit_uuid, None)
        raise
    if unit_uuid is not None:
        _set_run(unit_uuid, run_id)
    return run_id


def submit_units(flow_name: str, unit_uuids: list[str], **parameters: Any) -> str:
    """Start one run of ``flow_name`` driving every unit of ``unit_uuids`` (passed as
    the ``unit_uuids`` parameter); the run id is stored on each of them.

    A submission that fails leaves them all without a flow run, so the
    reconciler starts each on its own (``UNIT_FLOWS``).
    """
    if flow_name not in FLOWS:
        raise NotFound(f"no flow named {flow_name!r}")
    params = {**parameters, "unit_uuids": list(unit_uuids)}
    try:
        run_id = current_backend().submit(flow_name, params)
    except BaseException:
        _set_runs(unit_uuids, None)
        raise
    _set_runs(unit_uuids, run_id)
    return run_id


def _set_run(unit_uuid: str, run_id: str | None) -> None:
    _set_runs([unit_uuid], run_id)


def _set_runs(unit_uuids: list[str], run_id: str | None) -> None:
    with session_scope() as s:
        s.execute(
            update(Unit)
            .where(col(Unit.uuid).in_(unit_uuids))
            .values(flow_run_id=run_id, submitted_at=utcnow())
        )
