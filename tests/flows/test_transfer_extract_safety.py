"""Packages and bags that try to write outside custody, through the transfer workflow.

The issue's reproduction (a zip with ``d1/d2/d3/b -> ../../..``, ``a ->
d1/d2/d3/b/../../..`` and ``a/ESCAPED.txt``) is sent as a zipped transfer and as
a package inside a folder transfer run with the ``automated`` configuration (the
one watched folders use, which answers *Extract packages* with yes). Links that do
not carry an attack are left out and listed; bags holding links are refused before
anything in them is read or moved.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import bagit
import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import Event, File, Job, JobStatus, LocationPurpose, Task, Unit, UnitStatus
from custos.settings import get_settings
from custos.storage import default_location
from custos.transfers import start_transfer
from flows.transfer import run_transfer
from tasks.transfer.move_to_processing import move_to_processing

from .conftest import make_sample, tree_digest


def _zip_link(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def _attack_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        _zip_link(zf, "d1/d2/d3/b", "../../..")
        _zip_link(zf, "a", "d1/d2/d3/b/../../..")
        zf.writestr("a/ESCAPED.txt", "escaped")
    return path


def _unit(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def _processing() -> Path:
    return Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)


def _escaped(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("ESCAPED.txt")]


def _job(uuid: str, name: str) -> Job:
    with session_scope() as s:
        return s.exec(select(Job).where(col(Job.unit_uuid) == uuid, col(Job.name) == name)).one()


def _tasks(job_uuid: str) -> list[Task]:
    with session_scope() as s:
        return list(s.exec(select(Task).where(col(Task.job_uuid) == job_uuid)).all())


def _assert_failed_leaving_only_its_folder(uuid: str, before: set[str], member: str) -> None:
    unit = _unit(uuid)
    assert unit.status == UnitStatus.FAILED
    assert member in (unit.error or "")
    folder = Path(unit.current_path or "")
    assert set(os.listdir(_processing())) - before == {folder.name}
    hidden = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert hidden == []  # no staging or private 7-Zip folder left behind


def test_reproduction_as_zipped_transfer_fails_naming_member(tmp_path, dispatched):
    (tmp_path / "src").mkdir()
    src = _attack_zip(tmp_path / "src" / "attack.zip")
    original = src.read_bytes()
    before = set(os.listdir(_processing()))
    uuid = start_transfer("attack", src, "zipfile", "automated")
    with pytest.raises(InvalidInput, match=r"'a/ESCAPED.txt' needs 'a' to be a folder"):
        run_transfer(uuid, use_prefect=False)
    _assert_failed_leaving_only_its_folder(uuid, before, "a/ESCAPED.txt")
    assert _job(uuid, "Extract zipped transfer").status == JobStatus.FAILED
    assert src.read_bytes() == original and os.listdir(src.parent) == ["attack.zip"]
    assert _escaped(tmp_path, get_settings().home) == []
    folder = Path(_unit(uuid).current_path or "")
    assert os.listdir(folder) == ["attack.zip"]  # the copy in custody, untouched


def test_reproduction_inside_folder_transfer_with_automated_config(tmp_path, dispatched):
    src = make_sample(tmp_path / "deposit")
    _attack_zip(src / "attack.zip")
    digest = tree_digest(src)
    before = set(os.listdir(_processing()))
    uuid = start_transfer("attack-inside", src, processing_config="automated")
    with pytest.raises(InvalidInput, match=r"attack.zip: member 'a/ESCAPED.txt'"):
        run_transfer(uuid, use_prefect=False)
    _assert_failed_leaving_only_its_folder(uuid, before, "a/ESCAPED.txt")
    assert _job(uuid, "Extract contents from compressed archives").status == JobStatus.FAILED
    assert tree_digest(src) == digest
    assert _escaped(tmp_path, get_settings().home) == []
    objects = Path(_unit(uuid).current_path or "") / "objects"
    assert (objects / "attack.zip").is_file()
    assert not [p for p in objects.iterdir() if p.name.startswith("attack.zip-")]


def _links_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("docs/readme.txt", "read me\n")
        _zip_link(zf, "docs/up", "../../..")
        _zip_link(zf, "docs/passwd", "/etc/passwd")
    return path


def test_links_in_a_package_are_listed_in_task_output_and_unpacking_events(tmp_path, dispatched):
    src = tmp_path / "deposit"
    src.mkdir()
    (src / "notes.txt").write_text("notes\n")
    _links_zip(src / "bundle.zip")
    uuid = start_transfer("links-inside", src, processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    job = _job(uuid, "Extract contents from compressed archives")
    assert "2 links or special files not extracted" in (job.output or "")
    (task,) = _tasks(job.uuid)
    lines = task.stdout.splitlines()
    assert lines[1:] == [
        "not extracted: objects/bundle.zip: 'docs/up' (symbolic link to '../../..')",
        "not extracted: objects/bundle.zip: 'docs/passwd' (symbolic link to '/etc/passwd')",
    ]
    with session_scope() as s:
        events = s.exec(
            select(Event).where(col(Event.unit_uuid) == uuid, col(Event.event_type) == "unpacking")
        ).all()
        files = {f.uuid: f for f in s.exec(select(File).where(col(File.unit_uuid) == uuid))}
    (event,) = events
    assert files[event.file_uuid or ""].original_path.endswith("docs/readme.txt")
    assert event.outcome_note == (
        "Unpacked from: objects/bundle.zip; not extracted (links and special files are never "
        "created): objects/bundle.zip: 'docs/up' (symbolic link to '../../..'); "
        "objects/bundle.zip: 'docs/passwd' (symbolic link to '/etc/passwd')"
    )
    sip = Path(_unit(_unit(uuid).sip_uuid or "").current_path or "")
    assert not [p for p in sip.rglob("*") if p.is_symlink()]
    assert [p.name for p in sip.rglob("docs/*")] == ["readme.txt"]


def test_zipped_transfer_with_links_completes_listing_them(tmp_path, dispatched):
    pkg = tmp_path / "pack.tar.bz2"
    with tarfile.open(pkg, "w:bz2") as tf:
        data = b"payload\n"
        info = tarfile.TarInfo("content/a.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("content/etc")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        fifo = tarfile.TarInfo("content/pipe")
        fifo.type = tarfile.FIFOTYPE
        tf.addfile(link)
        tf.addfile(fifo)
    uuid = start_transfer("zipped-links", pkg, "zipfile", "automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    job = _job(uuid, "Extract zipped transfer")
    assert job.output == (
        "1 files extracted from pack.tar.bz2; 2 links or special files not extracted"
    )
    (task,) = _tasks(job.uuid)
    assert task.stdout.splitlines()[1:] == [
        "not extracted: 'content/etc' (symbolic link to '/etc')",
        "not extracted: 'content/pipe' (FIFO)",
    ]
    with session_scope() as s:
        paths = set(s.exec(select(col(File.original_path)).where(col(File.unit_uuid) == uuid)))
    assert "objects/a.txt" in paths and not {p for p in paths if "etc" in p or "pipe" in p}


def _bag(root: Path) -> Path:
    make_sample(root)
    bagit.make_bag(str(root), {"Source-Organization": "Test"}, checksums=["sha256"])
    return root


@pytest.mark.parametrize("where", ["payload", "tag", "data"])
def test_bag_with_a_link_is_refused_before_it_is_read(tmp_path, dispatched, where):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours\n")
    bag = _bag(tmp_path / "bag")
    if where == "payload":
        (bag / "data" / "escape").symlink_to(outside)
        named = "data/escape"
    elif where == "tag":
        (bag / "extra-tag.txt").symlink_to(outside / "secret.txt")
        named = "extra-tag.txt"
    else:
        shutil.rmtree(bag / "data")
        (outside / "objects").mkdir()
        (outside / "objects" / "x.txt").write_text("x\n")
        (bag / "data").symlink_to(outside)
        named = "data"
    before_outside = tree_digest(outside)
    before_bag = tree_digest(bag)
    before = set(os.listdir(_processing()))
    uuid = start_transfer("linked-bag", bag, "unzipped bag", "automated")
    with pytest.raises(InvalidInput, match=rf"the bag holds entries .*{named}: symlink"):
        run_transfer(uuid, use_prefect=False)
    _assert_failed_leaving_only_its_folder(uuid, before, named)
    assert tree_digest(outside) == before_outside  # nothing moved out of or into it
    assert tree_digest(bag) == before_bag


def test_zipped_bag_with_a_link_outside_the_manifests_completes_without_it(tmp_path, dispatched):
    bag = _bag(tmp_path / "bag")
    archive = tmp_path / "bagged.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(bag.rglob("*")):
            if path.is_file():
                zf.write(path, f"bag/{path.relative_to(bag).as_posix()}")
        _zip_link(zf, "bag/elsewhere", "/etc")
    uuid = start_transfer("zbag-link", archive, "zipped bag", "automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    job = _job(uuid, "Extract zipped bag transfer")
    assert "1 links or special files not extracted" in (job.output or "")
    (task,) = _tasks(job.uuid)
    assert "not extracted: 'bag/elsewhere' (symbolic link to '/etc')" in task.stdout


def _content_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("content/a.txt", "alpha\n")
        zf.writestr("content/sub/b.txt", "beta\n")
        zf.writestr("content/c.txt", "gamma\n")
    return path


def _original_paths(uuid: str) -> set[str]:
    with session_scope() as s:
        rows = s.exec(select(File).where(col(File.unit_uuid) == uuid, col(File.use) == "original"))
        return {f.original_path for f in rows}


def test_zipped_transfer_resumes_after_a_crash_mid_extraction(tmp_path, dispatched):
    """A crash left a half-written staging folder: it is removed, extraction starts over."""
    uuid = start_transfer("crash-a", _content_zip(tmp_path / "pack.zip"), "zipfile", "automated")
    move_to_processing.fn(uuid)  # the copy into custody, the flow's first job
    folder = Path(_unit(uuid).current_path or "")
    (folder / "..extracted.extracting-0badc0de" / "content").mkdir(parents=True)
    (folder / "..extracted.extracting-0badc0de" / "content" / "half.txt").write_text("x")
    (folder / ".custos-7z-0123456789ab").mkdir()
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    assert _original_paths(uuid) == {"objects/a.txt", "objects/sub/b.txt", "objects/c.txt"}


def test_zipped_transfer_resumes_after_a_crash_while_moving_the_payload(tmp_path, dispatched):
    """The package was extracted and removed, one entry moved, then the process died
    (its progress recorded as *Extract zipped transfer* records it)."""
    from tasks.transfer.compliance import EXTRACT_KEY

    uuid = start_transfer("crash-b", _content_zip(tmp_path / "pack.zip"), "zipfile", "automated")
    move_to_processing.fn(uuid)
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        unit.variables = {**(unit.variables or {}), EXTRACT_KEY: {"package": "pack.zip"}}
    folder = Path(_unit(uuid).current_path or "")
    payload = folder / ".extracted.payload"
    with zipfile.ZipFile(folder / "pack.zip") as zf:
        zf.extractall(tmp_path / "x")
    (tmp_path / "x" / "content").rename(payload)
    (payload / "a.txt").rename(folder / "a.txt")
    (folder / "pack.zip").unlink()
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    assert _original_paths(uuid) == {"objects/a.txt", "objects/sub/b.txt", "objects/c.txt"}
    job = _job(uuid, "Extract zipped transfer")
    assert job.output == "resumed: the package was extracted by an earlier run"


def test_package_named_like_an_entry_of_its_own_payload(tmp_path, dispatched):
    """``pack.zip`` holding ``pack.zip``: the inner one is kept, not overwritten or lost."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", "deep\n")
    pkg = tmp_path / "pack.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("pack.zip", inner.getvalue())
        zf.writestr("top.txt", "top\n")
    uuid = start_transfer("same-name", pkg, "zipfile", "automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    paths = _original_paths(uuid)
    assert "objects/top.txt" in paths and "objects/pack.zip" in paths
    assert any(p.endswith("/deep.txt") for p in paths)


def test_extract_packages_removes_leftovers_of_an_interrupted_run(tmp_path, dispatched):
    """A run that died while extracting left hidden staging folders beside the package:
    the resumed *Extract packages* removes them, so they never reach the SIP."""
    from custos import decisions
    from custos.models import Decision

    src = tmp_path / "deposit"
    src.mkdir()
    _content_zip(src / "bundle.zip")
    uuid = start_transfer("leftovers", src, processing_config="default")
    answers = {
        "Do you want to perform file format identification?": "Yes",
        "Extract packages?": "Yes",
        "Delete package after extraction?": "No",
        "Examine contents?": "Skip examine contents",
        "Create SIP(s)": "Create single SIP and continue processing",
    }
    planted = False
    for _ in range(12):
        if run_transfer(uuid, use_prefect=False) != UnitStatus.USER_INPUT:
            break
        with session_scope() as s:
            decision = s.exec(
                select(Decision).where(
                    col(Decision.unit_uuid) == uuid, col(Decision.choice).is_(None)
                )
            ).one()
        if decision.name == "Extract packages?":
            objects = Path(_unit(uuid).current_path or "") / "objects"
            half = objects / ".bundle.zip-2024.extracting-deadbeef" / "content"
            half.mkdir(parents=True)
            (half / "half.txt").write_text("half-written\n")
            (objects / ".custos-7z-0123456789ab" / "out").mkdir(parents=True)
            planted = True
        label = answers.get(decision.name) or decision.choices[0]["label"]
        choice = next(c["id"] for c in decision.choices if c["label"] == label)
        decisions.answer(decision.job_uuid, choice)
    assert planted and _unit(uuid).status == UnitStatus.COMPLETE
    sip = Path(_unit(_unit(uuid).sip_uuid or "").current_path or "")
    assert not [p for p in sip.rglob("*") if "extracting-" in p.name or "custos-7z" in p.name]
    with session_scope() as s:
        names = set(s.exec(select(col(File.current_path)).where(col(File.unit_uuid) == uuid)))
    assert not [n for n in names if "half.txt" in n]
    assert any(n.endswith("content/a.txt") for n in names)
