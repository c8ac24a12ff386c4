"""One PREMIS agent row per identifier, however many processes record at once.

On a fresh home, the first flow runs (each a process of its own) all record events
by the same agents at the same instant: each used to insert its own agent row, and
from then on every lookup of that agent failed with "Multiple rows were found", so
every job of every later unit failed (seen with the load bench: 48 of 50 transfers).
Migration 0007 merges the duplicates an older database holds.
"""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from custos.db import alembic_config, get_engine
from custos.recorder import AgentSpec, Recorder
from tests.custos.test_roles_migration import _insert, fresh_engine  # noqa: F401 (fixture)

PROCESSES = 6
AGENTS = 40


def _record_agent(url: str, value: str, barrier: multiprocessing.synchronize.Barrier) -> list[int]:
    """The ids ``AGENTS`` agents get in this process, all asked for right after the
    other processes' (many chances to collide)."""
    from custos.db import make_engine

    engine = make_engine(url)
    recorder = Recorder(engine)
    specs = [AgentSpec("race", f"{value}-{n}", "Custos", "software") for n in range(AGENTS)]
    barrier.wait()
    return [recorder.agent_id(spec) for spec in specs]


def _worker(
    url: str, value: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    try:
        out.put(_record_agent(url, value, barrier))
    except Exception as exc:  # reported to the test
        out.put(f"{type(exc).__name__}: {exc}")


def test_processes_creating_one_agent_at_once_share_one_row(custos_home: Path) -> None:
    engine = get_engine()
    url = engine.url.render_as_string(hide_password=False)
    value = f"race-{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    out: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=_worker, args=(url, value, barrier, out)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    ids = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert all(isinstance(i, list) for i in ids), ids
    assert all(i == ids[0] for i in ids), ids  # every process got the same ids
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id FROM agent WHERE identifier_value LIKE :v ORDER BY id"),
            {"v": f"{value}-%"},
        ).all()
    assert sorted(r[0] for r in rows) == sorted(ids[0])  # one row per agent


def test_migration_merges_duplicate_agents(fresh_engine: Engine) -> None:  # noqa: F811
    config = alembic_config(fresh_engine)
    command.upgrade(config, "0006")
    for agent_id, value in ((1, "Custos"), (2, "Custos"), (3, "admin"), (4, "Custos")):
        _insert(fresh_engine, "agent", id=agent_id, identifier_type="t", identifier_value=value)
    unit = str(uuid.uuid4())
    _insert(fresh_engine, "unit", uuid=unit, unit_type="transfer")
    for event, agents in (("e1", (1, 3)), ("e2", (2, 3)), ("e3", (1, 4))):
        _insert(fresh_engine, "event", uuid=event, unit_uuid=unit, event_type="ingestion")
        for agent_id in agents:
            _insert(fresh_engine, "eventagent", event_uuid=event, agent_id=agent_id)

    command.upgrade(config, "head")
    with fresh_engine.connect() as conn:
        agents = conn.execute(sa.text("SELECT id, identifier_value FROM agent ORDER BY id")).all()
        links = conn.execute(
            sa.text("SELECT event_uuid, agent_id FROM eventagent ORDER BY 1, 2")
        ).all()
    assert [tuple(a) for a in agents] == [(1, "Custos"), (3, "admin")]
    assert [tuple(link) for link in links] == [
        ("e1", 1),
        ("e1", 3),
        ("e2", 1),
        ("e2", 3),
        ("e3", 1),
    ]
