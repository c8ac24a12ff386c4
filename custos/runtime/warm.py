"""Flow-run processes of the runner forked from a warm process, not a fresh interpreter.

Prefect's runner starts every flow run of a served deployment in a new process
with ``multiprocessing``'s ``spawn`` method: a new Python interpreter that imports
Prefect, SQLAlchemy, lxml, Custos and the flows before the run's first step,
3.5 s of CPU per run on the 2-core machine of ``docs/performance.md``, twice per
transfer (its ingest is a second run). ``use_forkserver`` makes those processes
come from a ``forkserver`` instead: one process, started with the runner, that
has imported the flows once (``set_forkserver_preload``) and forks a copy of
itself for each run.

Each flow run keeps everything the spawned one had: its own process (a crash
or a memory leak stays in it), a Prefect flow run of its deployment with its
task runs, logs and states in the dashboard, the runner's cancellation and
control channel, and the runner's process group (stopping the group stops every
run). What the run gets from Prefect is unchanged: the flow and its context are
still pickled and sent to the new process, and its environment is set there
before the flow starts.

The forkserver imports only modules: it opens no database connection and
starts no thread, so a fork of it is as clean as a new interpreter. A fork
copies only the thread that forks, so a module that starts threads when
imported must not be imported there (pygfried starts Go's runtime: it is
imported on first use, ``tasks.tools.siegfried``); a test checks that the
forkserver runs one thread once every flow is imported.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable
from multiprocessing.context import BaseContext
from typing import Any

#: Modules every flow run needs, besides the flows themselves.
ENGINE_MODULES = ("prefect.flow_engine", "prefect.task_engine", "prefect.runner")


class _Multiprocessing:
    """``multiprocessing`` as Prefect's flow engine sees it: asked for a ``spawn``
    context, it gets the forkserver context; everything else is the real module."""

    def __init__(self, context: BaseContext) -> None:
        self._context = context

    def get_context(self, method: str | None = None) -> BaseContext:
        if method == "spawn":
            return self._context
        return multiprocessing.get_context(method)

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def use_forkserver(modules: Iterable[str]) -> BaseContext:
    """Make Prefect's engine start flow-run processes from a forkserver that preloads
    ``modules`` (and the engine's own); returns the context (its server starts at the
    first run, or at ``start``)."""
    import prefect.flow_engine as engine

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*ENGINE_MODULES, *modules])
    engine.multiprocessing = _Multiprocessing(context)  # type: ignore[assignment]
    return context


def start(context: BaseContext) -> None:
    """Start the forkserver now (it imports the preloaded modules meanwhile), so the
    first flow run waits less for it."""
    from multiprocessing import forkserver

    assert context.get_start_method() == "forkserver"
    forkserver.ensure_running()
