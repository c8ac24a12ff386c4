"""The command line as a client of the running service.

A CLI command that starts or resumes work (a transfer, an approval, an answer, a
capture, a reingest, an audit) first asks which backend to submit through:

- a ``custos serve`` holds the home's lock (``lock.lock_holder``, a probe that
  never takes the lock): the work is submitted to the serve's deployments on its
  Prefect server (the URL the serve wrote in ``<home>/run/serve.json`` when it was
  ready), so it shows in the dashboard and goes on when the command is closed;
- no serve, but ``PREFECT_API_URL`` set by the operator (scaled out: Prefect
  workers of the ``custos`` pool, no serve on this machine): submitted there;
- neither, and ``--wait``: the flow runs inline in the command's own process
  (``dispatch.InlineBackend``: plain functions, no Prefect server, no Prefect
  output);
- neither, without ``--wait``: a one-line ``ConfigError`` saying what to do,
  raised before anything is recorded.

Example::

    with work_backend(settings, wait=wait, action="run the transfer") as mode:
        uuid = start_transfer(...)
        if wait:
            follow(...)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from custos import dispatch
from custos.errors import ConfigError
from custos.runtime.env import external_prefect_url
from custos.runtime.lock import lock_holder
from custos.settings import Settings

SERVE_INFO = "serve.json"
#: Seconds a command waits for a serve that holds the lock but is still starting.
STARTING_WAIT = 90.0


class Mode(StrEnum):
    """Where the work a command submits runs."""

    SERVED = "served"  # the deployments of a running serve (or a Prefect work pool)
    INLINE = "inline"  # in this process, until it stops
    FORCED = "forced"  # a backend set with dispatch.set_backend (tests)


@dataclass(frozen=True)
class ServeInfo:
    """What a ready serve tells its clients (``<home>/run/serve.json``)."""

    pid: int
    prefect_api_url: str
    api_url: str
    started_at: str


def write_serve_info(run_dir: Path, info: ServeInfo) -> Path:
    """Publish a ready serve's addresses (written whole, then renamed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / SERVE_INFO
    tmp = path.with_name(f".{SERVE_INFO}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(info)) + "\n")
    tmp.replace(path)
    return path


def remove_serve_info(run_dir: Path) -> None:
    """Withdraw it when the serve stops (the lock, not this file, is the truth)."""
    (run_dir / SERVE_INFO).unlink(missing_ok=True)


def read_serve_info(run_dir: Path) -> ServeInfo | None:
    try:
        data = json.loads((run_dir / SERVE_INFO).read_text())
        return ServeInfo(
            pid=int(data["pid"]),
            prefect_api_url=str(data["prefect_api_url"]),
            api_url=str(data["api_url"]),
            started_at=str(data["started_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_serve(settings: Settings, *, starting_wait: float = STARTING_WAIT) -> ServeInfo | None:
    """The serve running for the home, or None.

    A serve that holds the lock but has not published its addresses yet is
    starting: wait for it (up to ``starting_wait`` seconds) rather than run the
    work a second time beside it.
    """
    run_dir = settings.run_dir
    deadline = time.monotonic() + starting_wait
    while True:
        pid = lock_holder(run_dir)
        if pid is None:
            return None
        info = read_serve_info(run_dir)
        if info is not None and (pid == 0 or info.pid == pid):
            return info
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"custos serve (pid {pid}) holds home {settings.home} but is "
                f"not ready after {starting_wait:.0f} s (see "
                f"{settings.home / 'logs'})"
            )
        time.sleep(0.25)


def choose_backend(
    settings: Settings, *, wait: bool, action: str
) -> tuple[Mode, dispatch.Backend | None]:
    """The mode and backend for a command that starts work (see the module doc).

    ``action`` completes the hint of the error without a serve ("... add --wait
    to <action> in this command").
    """
    if dispatch.forced_backend() is not None:
        return Mode.FORCED, None
    serve = running_serve(settings)
    if serve is not None:
        return Mode.SERVED, dispatch.PrefectBackend(serve.prefect_api_url)
    external = external_prefect_url()
    if external is not None and settings.dispatch == "prefect":
        return Mode.SERVED, dispatch.PrefectBackend(external)
    if wait:
        return Mode.INLINE, dispatch.inline_backend()
    raise ConfigError(
        f"no custos serve is running for home {settings.home}: start it "
        f"(custos serve), or add --wait to {action} in this command"
    )


@contextmanager
def work_backend(settings: Settings, *, wait: bool, action: str) -> Iterator[Mode]:
    """Submit through the chosen backend inside the block; restored afterwards."""
    mode, backend = choose_backend(settings, wait=wait, action=action)
    if backend is None:
        yield mode
        return
    saved = os.environ.get("PREFECT_API_URL")
    if isinstance(backend, dispatch.PrefectBackend) and backend.api_url:
        os.environ["PREFECT_API_URL"] = backend.api_url  # for Prefect imported from here on
    dispatch.set_backend(backend)
    try:
        yield mode
    finally:
        dispatch.set_backend(None)
        if saved is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = saved
