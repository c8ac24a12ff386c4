"""The copy into processing is the transfer flow's first job, not part of starting it.

``start_transfer`` records the unit and returns; *Move to processing directory*
copies the source through a staging folder renamed whole, so a copy killed midway
is redone cleanly by the resumed run and the source is never modified.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.models import Job, JobStatus, Unit, UnitStatus
from custos.transfers import approve_transfer, start_transfer
from flows.transfer import run_transfer
from tasks.transfer.move_to_processing import JOB, move_to_processing, staging_path

from .conftest import make_sample, tree_digest


def _unit(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def _jobs(uuid: str) -> list[Job]:
    with session_scope() as s:
        return list(s.exec(select(Job).where(col(Job.unit_uuid) == uuid).order_by(col(Job.seq))))


def test_start_records_the_unit_and_the_flow_copies_first(tmp_path, dispatched):
    src = make_sample(tmp_path / "sample")
    digest = tree_digest(src)
    uuid = start_transfer("copied", src, processing_config="automated")
    folder = Path(_unit(uuid).current_path or "")
    assert not folder.exists() and _jobs(uuid) == []  # nothing copied, no job yet
    assert dispatched.submitted == [("transfer", {"unit_uuid": uuid})]

    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    first = _jobs(uuid)[0]
    assert (first.microservice, first.name, first.status) == (
        "Verify transfer compliance",
        JOB,
        JobStatus.COMPLETE,
    )
    assert first.output is not None and first.output.startswith("6 files (")
    in_group = [j for j in _jobs(uuid) if (j.microservice, j.name) == (first.microservice, JOB)]
    assert len(in_group) == 1  # compliance does not record another
    assert tree_digest(src) == digest
    assert not staging_path(folder).exists()


def test_a_copy_killed_midway_is_redone_cleanly(tmp_path, dispatched):
    """A real crash: the copying process is SIGKILLed while the staging folder fills."""
    src = tmp_path / "big"
    src.mkdir()
    for i in range(4):  # 4 x 256 MiB of zeros on disk-backed sparse files: slow to copy
        with open(src / f"part{i}.bin", "wb") as fh:
            fh.truncate(256 * 1024**2)
    (src / "notes.txt").write_text("small\n")
    digest = {p.name: p.stat().st_size for p in src.iterdir()}
    uuid = start_transfer("killed", src, processing_config="automated")
    folder = Path(_unit(uuid).current_path or "")
    staging = staging_path(folder)
    code = (
        "from tasks.transfer.move_to_processing import move_to_processing\n"
        f"move_to_processing.fn({uuid!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 120
    while not (staging.is_dir() and any(staging.iterdir())):
        assert proc.poll() is None, "the copy ended before it could be killed"
        assert time.monotonic() < deadline, "the copy never started"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert staging.is_dir() and not folder.exists()  # a half copy, under its staging name
    (killed,) = _jobs(uuid)
    assert (killed.name, killed.status) == (JOB, JobStatus.PROCESSING)

    assert move_to_processing.fn(uuid) == "continue"  # the resumed run
    assert not staging.exists()
    assert {p.name: p.stat().st_size for p in folder.iterdir()} == digest
    assert {p.name: p.stat().st_size for p in src.iterdir()} == digest  # source untouched
    done = [j for j in _jobs(uuid) if j.name == JOB and j.status == JobStatus.COMPLETE]
    assert len(done) == 1 and done[0].output and done[0].output.startswith("5 files (")
    shutil.rmtree(folder)  # a GiB written: not left for pytest's kept temporary folders
    shutil.rmtree(src)


def test_a_run_stopped_after_the_rename_finds_the_copy_done(tmp_path, dispatched):
    src = make_sample(tmp_path / "s")
    uuid = start_transfer("renamed", src, processing_config="automated")
    folder = Path(_unit(uuid).current_path or "")
    folder.mkdir()  # as a run killed between the rename and the job's end leaves it
    (folder / "notes.txt").write_text("already copied\n")
    assert move_to_processing.fn(uuid) == "continue"
    (job,) = _jobs(uuid)
    assert job.status == JobStatus.COMPLETE and "already in processing" in (job.output or "")
    assert (folder / "notes.txt").read_text() == "already copied\n"


def test_special_files_and_links_swapped_in_are_refused(tmp_path, dispatched):
    src = make_sample(tmp_path / "fifo")
    os.mkfifo(src / "pipe")
    uuid = start_transfer("fifo", src, processing_config="automated")
    with pytest.raises(InvalidInput, match="pipe: the source holds a FIFO"):
        run_transfer(uuid, use_prefect=False)  # refused by name, never opened (no hang)
    unit = _unit(uuid)
    assert unit.status == UnitStatus.FAILED and "pipe" in (unit.error or "")
    folder = Path(unit.current_path or "")
    assert not folder.exists() and not staging_path(folder).exists()

    real = tmp_path / "real"
    make_sample(real / "inner")
    uuid = start_transfer("swapped", real / "inner", processing_config="automated")
    elsewhere = tmp_path / "elsewhere"
    real.rename(elsewhere)
    real.symlink_to(elsewhere)  # the path now passes through a link it did not have
    with pytest.raises(InvalidInput, match="symbolic link"):
        move_to_processing.fn(uuid)

    gone = make_sample(tmp_path / "gone")
    uuid = start_transfer("gone", gone, processing_config="automated")
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    with pytest.raises(NotFound, match="no longer exists"):
        move_to_processing.fn(uuid)


def test_an_unapproved_transfer_is_copied_once_approved(tmp_path, dispatched):
    src = make_sample(tmp_path / "approve")
    uuid = start_transfer("approve", src, processing_config="automated", auto_approve=False)
    assert _unit(uuid).status == UnitStatus.USER_INPUT and dispatched.submitted == []
    folder = Path(_unit(uuid).current_path or "")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.USER_INPUT
    assert not folder.exists()  # waiting for approval copies nothing
    approve_transfer(uuid)
    assert dispatched.submitted == [("transfer", {"unit_uuid": uuid})]
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    names = [j.name for j in _jobs(uuid)]
    assert names[:2] == ["Approve standard transfer", JOB]
