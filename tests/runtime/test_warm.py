"""Flow-run processes forked from a warm forkserver (``custos.runtime.warm``)."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from multiprocessing import forkserver as forkserver_module
from multiprocessing.context import BaseContext
from pathlib import Path

import prefect.flow_engine as engine
import pytest

from custos.dispatch import FLOWS
from custos.runtime import warm

#: Run in the new process (a builtin, so nothing of this test module is imported there):
#: was the flows module already imported, which parent, which process group?
REPORT = """
import json, os, sys
open(OUT, "w").write(json.dumps(["flows.transfer" in sys.modules, os.getppid(), os.getpgrp()]))
"""


@pytest.fixture
def forkserver() -> Iterator[BaseContext]:
    real = engine.multiprocessing
    context = warm.use_forkserver(sorted({entry.split(":")[0] for entry in FLOWS.values()}))
    try:
        yield context
    finally:
        engine.multiprocessing = real
        context.set_forkserver_preload([])
        forkserver_module._forkserver._stop()  # the next user starts a fresh one


def test_prefect_spawn_contexts_become_the_preloaded_forkserver(
    forkserver: BaseContext, tmp_path: Path
) -> None:
    assert engine.multiprocessing.get_context("spawn") is forkserver
    assert engine.multiprocessing.get_context("fork").get_start_method() == "fork"
    assert engine.multiprocessing.Process is multiprocessing.Process  # the rest is untouched
    warm.start(forkserver)
    out = tmp_path / "report.json"
    proc = forkserver.Process(target=exec, args=(REPORT, {"OUT": str(out)}))
    proc.start()
    proc.join(180)
    assert proc.exitcode == 0
    preloaded, parent, group = json.loads(out.read_text())
    assert preloaded  # imported by the forkserver, before the run's code asked for it
    assert parent != os.getpid()  # forked by the server, not by this process
    assert group == os.getpgrp()  # stopping the runner's group stops the run too


def test_the_forkserver_runs_one_thread_once_every_flow_is_imported(
    forkserver: BaseContext,
) -> None:
    """A fork copies only the forking thread: a module that starts threads when
    imported (Go's runtime in pygfried did) would leave every flow run with a
    runtime missing its threads, hanging at its first call."""
    warm.start(forkserver)
    first = forkserver.Process(target=exec, args=("pass",))
    first.start()  # answered only once the server has imported everything
    first.join(180)
    assert first.exitcode == 0
    server = forkserver_module._forkserver._forkserver_pid
    assert server is not None
    assert len(os.listdir(f"/proc/{server}/task")) == 1
