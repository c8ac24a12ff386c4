"""Short database reads from ``async`` endpoints, without a thread hop on SQLite.

A status poll (Archivematica's ``transfer/status`` and ``ingest/status``) costs a
few tens of microseconds of SQLite work, but handing it to Starlette's thread pool
costs far more: with dozens of concurrent clients, forty threads contend for the
GIL and the process spends most of its CPU time switching between them (measured
in ``bench/api_status.py``: about 700 requests/s per worker through the pool,
several times that on the event loop). SQLite in WAL mode never makes a reader
wait for a writer, so a read on a local file is bounded and short: ``read`` runs
it on the event loop. Only reads whose size is bounded belong here (one unit's
jobs, not a listing of every unit): the loop serves nothing else meanwhile.
Any other database is a network round trip, which must not
stall the loop: there ``read`` uses the thread pool as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from custos.db import get_engine

P = ParamSpec("P")
T = TypeVar("T")


def inline_reads() -> bool:
    """True when reads may run on the event loop (the database is a SQLite file)."""
    return get_engine().dialect.name == "sqlite"


async def read(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``: on the event loop for SQLite, else in the thread pool."""
    if inline_reads():
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)
