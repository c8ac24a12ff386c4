"""Decisions, approval, resumption, and the real Prefect flow."""

from __future__ import annotations

from sqlmodel import col, select

from custos import decisions
from custos.db import session_scope
from custos.models import Decision, File, Job, JobStatus, Unit, UnitStatus
from custos.transfers import approve_transfer, start_transfer
from flows.transfer import STEPS, run_transfer
from tasks.transfer.move_to_processing import move_to_processing

from .conftest import make_sample


def _status(uuid: str) -> UnitStatus:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return UnitStatus(unit.status)


def _pending(uuid: str) -> Decision:
    with session_scope() as s:
        return s.exec(
            select(Decision).where(col(Decision.unit_uuid) == uuid, col(Decision.choice).is_(None))
        ).one()


def test_default_config_asks_then_resumes_to_completion(tmp_path, dispatched):
    src = make_sample(tmp_path / "s")
    uuid = start_transfer("asks", src, processing_config="default", auto_approve=False)
    assert _status(uuid) == UnitStatus.USER_INPUT
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.USER_INPUT  # unapproved
    approve_transfer(uuid)
    assert dispatched.submitted[-1] == ("transfer", {"unit_uuid": uuid})

    answers = {
        "Do you want to perform file format identification?": "Yes",
        "Extract packages?": "No",
        "Examine contents?": "Skip examine contents",
        "Create SIP(s)": "Create single SIP and continue processing",
    }
    asked = []
    for _ in range(len(answers) + 1):
        status = run_transfer(uuid, use_prefect=False)
        if status != UnitStatus.USER_INPUT:
            break
        decision = _pending(uuid)
        asked.append(decision.name)
        choice = next(c["id"] for c in decision.choices if c["label"] == answers[decision.name])
        decisions.answer(decision.job_uuid, choice)
    assert status == UnitStatus.COMPLETE
    assert asked == list(answers)
    with session_scope() as s:
        files = s.exec(select(File).where(col(File.unit_uuid) == uuid)).all()
        assert all(f.puid for f in files)
        # each job ran once even though the flow ran five times
        names = s.exec(select(col(Job.name)).where(col(Job.unit_uuid) == uuid)).all()
    assert names.count("Assign file UUIDs to objects") == 1
    assert names.count("Identify file format") == 1


def test_rejecting_at_create_sip(tmp_path, dispatched):
    from custos.processing import load_named, save

    save("rejectall", load_named("automated").model_copy(update={"create_sip": "reject"}))
    uuid = start_transfer("rej", make_sample(tmp_path / "s"), processing_config="rejectall")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.REJECTED


def test_backlog(tmp_path, dispatched):
    from pathlib import Path

    from custos.processing import load_named, save

    save("tobacklog", load_named("automated").model_copy(update={"create_sip": "backlog"}))
    uuid = start_transfer("bl", make_sample(tmp_path / "s"), processing_config="tobacklog")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.sip_uuid == "BACKLOG"
    assert (Path(unit.current_path or "") / "objects" / "notes.txt").is_file()


def test_interrupted_transfer_resumes_with_same_result(tmp_path, dispatched):
    src = make_sample(tmp_path / "s")
    uuid = start_transfer("resume", src, processing_config="automated")
    for step in (move_to_processing, *STEPS[:4]):  # "killed" after the virus scan
        step.fn(uuid)
    with session_scope() as s:  # and in the middle of a job
        s.add(
            Job(
                unit_uuid=uuid,
                unit_type="transfer",
                microservice="Generate transfer structure report",
                name="Move to generate transfer tree",
                status=JobStatus.PROCESSING,
                seq=999,
            )
        )
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    with session_scope() as s:
        files = s.exec(select(File).where(col(File.unit_uuid) == uuid)).all()
        names = s.exec(
            select(col(Job.name)).where(
                col(Job.unit_uuid) == uuid, col(Job.status) == JobStatus.COMPLETE
            )
        ).all()
    # 6 objects + 1 extracted file + the transfer METS, each registered once
    assert len(files) == 8 and len({f.original_path for f in files}) == 8
    assert names.count("Assign file UUIDs to objects") == 1
    assert names.count("Scan for viruses in directories") == 1


def test_real_prefect_flow_run(tmp_path, dispatched, prefect_server):
    from flows.transfer import transfer

    uuid = start_transfer("prefect", make_sample(tmp_path / "s"), processing_config="automated")
    assert transfer(uuid) == "COMPLETE"
    assert _status(uuid) == UnitStatus.COMPLETE


def test_each_transfer_type_approves_with_its_own_link_and_chain(tmp_path, dispatched):
    import shutil

    from custos.transfers import REJECT_CHAIN

    folder = make_sample(tmp_path / "folder")
    shutil.make_archive(str(tmp_path / "pack"), "zip", tmp_path, "folder")
    expected = {  # Archivematica's Approve ... transfer links and approve chains
        "standard": (
            "0c94e6b5-4714-4bec-82c8-e187e0c04d77",
            "6953950b-c101-4f4c-a0c3-0cd0684afe5e",
        ),
        "zipfile": ("44e0b981-78d2-4403-8233-05038b3cc603", "f3caceff-5ad5-4bad-b98c-e73f8cd03450"),
    }
    for ttype, (link, chain) in expected.items():
        src = folder if ttype == "standard" else tmp_path / "pack.zip"
        uuid = start_transfer(f"t-{ttype}", src, ttype, "automated", auto_approve=False)
        decision = _pending(uuid)
        assert decision.link_uuid == link
        assert [c["id"] for c in decision.choices] == [chain, REJECT_CHAIN]
        approve_transfer(uuid)
        assert decisions.answered(uuid, decision.name) == chain
        assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE


def test_bag_types_offer_their_own_approve_chains():
    from custos.transfers import APPROVALS, BAG, ZIPPED_BAG

    assert (APPROVALS[BAG].link_uuid, APPROVALS[BAG].approve_chain) == (
        "f6bcc82a-d629-4a78-8643-bf6e3cb39fe6",
        "c75ef451-2040-4511-95ac-3baa0f019b48",
    )
    assert (APPROVALS[ZIPPED_BAG].link_uuid, APPROVALS[ZIPPED_BAG].approve_chain) == (
        "15402367-2d3f-475e-b251-55532347a3c2",
        "167dc382-4ab1-4051-8e22-e7f1c1bf3e6f",
    )
