"""The recorder writes jobs/tasks/events in bulk and derives Archivematica's status."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select

from custos.db import session_scope
from custos.models import Event, EventAgent, Job, JobStatus, Task, Unit, UnitStatus, UnitType
from custos.recorder import Recorder


def make_unit(unit_type: UnitType = UnitType.TRANSFER, **kw: object) -> str:
    with session_scope() as s:
        unit = Unit(unit_type=unit_type, name="t", **kw)  # type: ignore[arg-type]
        s.add(unit)
        s.flush()
        return unit.uuid


def test_job_records_tasks_and_events_in_bulk() -> None:
    rec = Recorder()
    unit = make_unit()
    with rec.job(unit, "Scan for viruses", "Scan for viruses in directories") as job:
        for i in range(250):
            job.task(file_uuid=None, file_name=f"f{i}", stdout="OK")
            job.event(event_type="virus check", outcome="Pass")
    with session_scope() as s:
        j = s.exec(select(Job).where(col(Job.unit_uuid) == unit)).one()
        assert j.status == JobStatus.COMPLETE and j.ended_at is not None
        assert (
            s.exec(select(func.count()).select_from(Task).where(col(Task.job_uuid) == j.uuid)).one()
            == 250
        )
        events = s.exec(select(Event).where(col(Event.unit_uuid) == unit)).all()
        assert len(events) == 250
        links = s.exec(
            select(func.count())
            .select_from(EventAgent)
            .where(col(EventAgent.event_uuid) == events[0].uuid)
        ).one()
        assert links == 2  # Custos and the organization


def test_failing_block_marks_job_failed_and_keeps_its_tasks() -> None:
    rec = Recorder()
    unit = make_unit()
    with pytest.raises(RuntimeError):
        with rec.job(
            unit, "Verify transfer checksums", "Verify metadata directory checksums"
        ) as job:
            job.task(file_name="a.txt", exit_code=1, stderr="mismatch")
            raise RuntimeError("sha256 mismatch for a.txt")
    with session_scope() as s:
        j = s.exec(select(Job).where(col(Job.unit_uuid) == unit)).one()
        assert j.status == JobStatus.FAILED and "mismatch" in (j.output or "")
        assert s.exec(select(Task).where(col(Task.job_uuid) == j.uuid)).one().exit_code == 1
    assert rec.status_info(unit).status == UnitStatus.FAILED  # type: ignore[union-attr]


def test_status_rules_follow_archivematica_order() -> None:
    rec = Recorder()
    unit = make_unit()
    assert rec.status_info(unit) is None  # no job yet -> API answers 400
    rec.record_job(
        unit, "Approve transfer", "Approve standard transfer", status=JobStatus.USER_INPUT
    )
    assert rec.status_info(unit).status == UnitStatus.USER_INPUT  # type: ignore[union-attr]
    rec.record_job(unit, "Create SIP from Transfer", "Create SIP from transfer objects")
    info = rec.status_info(unit)
    assert info is not None and info.status == UnitStatus.PROCESSING
    with session_scope() as s:
        u = s.get(Unit, unit)
        assert u is not None
        u.sip_uuid = "5b9f6b2e-0000-4000-8000-000000000000"
    info = rec.status_info(unit)
    assert info is not None and info.status == UnitStatus.COMPLETE
    assert info.sip_uuid == "5b9f6b2e-0000-4000-8000-000000000000"
    assert info.microservice == "Create SIP from transfer objects"

    backlog = make_unit()
    rec.record_job(backlog, "Create SIP from Transfer", "Move transfer to backlog")
    info = rec.status_info(backlog)
    assert info is not None and (info.status, info.sip_uuid) == (UnitStatus.COMPLETE, "BACKLOG")

    sip = make_unit(UnitType.SIP)
    rec.record_job(sip, "Store AIP", "Remove the processing directory")
    rec.record_job(sip, "Upload DIP", "Move to the uploadedDIPs directory")
    assert rec.status_info(sip).status == UnitStatus.COMPLETE  # type: ignore[union-attr]

    rejected = make_unit()
    rec.reject_unit(rejected)
    assert rec.status_info(rejected).status == UnitStatus.REJECTED  # type: ignore[union-attr]
    with session_scope() as s:
        assert s.get(Unit, rejected).status == UnitStatus.REJECTED  # type: ignore[union-attr]


def test_values_the_database_cannot_hold_are_invalid_input() -> None:
    """Out-of-range integers (and NUL bytes on PostgreSQL) are a 400, not a 500."""
    from sqlmodel import col, select

    from custos.errors import InvalidInput
    from custos.models import Folder

    with pytest.raises(InvalidInput, match="cannot be stored"):
        with session_scope() as s:
            s.exec(select(Folder).where(col(Folder.id) == 2**63 + 5)).first()
    with session_scope() as s:
        dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        with pytest.raises(InvalidInput, match="cannot be stored"):
            with session_scope() as s:
                s.add(Unit(unit_type=UnitType.TRANSFER, name="nul\x00byte"))


def test_a_job_is_two_transactions_and_keeps_the_unit_status_current() -> None:
    """Starting a job and finishing it each write the job and the unit's cached status
    together: two commits per job (there were six), the status right after each."""
    from sqlalchemy import event

    from custos.db import get_engine

    rec = Recorder()
    unit = make_unit()
    commits: list[int] = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(get_engine(), "commit", listener)
    try:
        with rec.job(unit, "Verify transfer compliance", "Verify mets_structmap.xml compliance"):
            with session_scope() as s:
                unit_row = s.get(Unit, unit)
                assert unit_row is not None and unit_row.status == UnitStatus.PROCESSING
            started = len(commits) - 1  # the read above commits too
        finished = len(commits) - started - 1
        with session_scope() as s:
            unit_row = s.get(Unit, unit)
            assert unit_row is not None and unit_row.status == UnitStatus.PROCESSING
        rec.record_job(unit, "Failed transfer", "Cleanup failed Transfer",
                       status=JobStatus.FAILED, output="why")  # fmt: skip
        with session_scope() as s:
            unit_row = s.get(Unit, unit)
            assert unit_row is not None and unit_row.status == UnitStatus.FAILED
            failed = s.exec(
                select(Job).where(
                    col(Job.unit_uuid) == unit, col(Job.name) == "Cleanup failed Transfer"
                )
            ).one()
            assert failed.output == "why"
    finally:
        event.remove(get_engine(), "commit", listener)
    assert (started, finished) == (1, 1)


def test_rows_added_with_a_job_are_committed_with_it_or_not_at_all() -> None:
    """A decision is recorded in its USER_INPUT job's own transaction: a reader never
    sees the unit waiting without the decision it waits for (a waiting CLI returned
    'USER_INPUT' with no decision to answer), and a failure records neither."""
    from custos.decisions import Choice, ask, pending

    rec = Recorder()
    unit = make_unit()

    def fail(_s: object, _job: str) -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        rec.start_job(unit, "Approve transfer", "Approve standard transfer",
                      status=JobStatus.USER_INPUT, with_job=fail)  # fmt: skip
    with session_scope() as s:
        assert s.exec(select(Job).where(col(Job.unit_uuid) == unit)).all() == []
        unit_row = s.get(Unit, unit)
        assert unit_row is not None and unit_row.status != UnitStatus.USER_INPUT

    decision = ask(rec, unit, microservice="Approve transfer", name="Approve standard transfer",
                   choices=[Choice("yes", "Approve"), Choice("no", "Reject")])  # fmt: skip
    found = pending(unit, "Approve standard transfer", rec.engine)
    assert found is not None and found.job_uuid == decision.job_uuid
    with session_scope() as s:
        unit_row = s.get(Unit, unit)
        assert unit_row is not None and unit_row.status == UnitStatus.USER_INPUT
