"""End-to-end transfers of every type, run in-process through the flow's steps."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import bagit
import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import FixityMismatch, InvalidInput, NotFound
from custos.models import Event, File, Job, JobStatus, Task, Unit, UnitStatus, UnitType
from custos.recorder import Recorder
from custos.transfers import start_transfer
from flows.transfer import run_transfer
from tasks.transfer.move_to_processing import move_to_processing

from .conftest import EICAR, make_sample, tree_digest


def _files(unit_uuid: str) -> dict[str, File]:
    with session_scope() as s:
        rows = s.exec(select(File).where(col(File.unit_uuid) == unit_uuid)).all()
        return {f.original_path: f for f in rows}


def _events(unit_uuid: str, event_type: str) -> list[Event]:
    with session_scope() as s:
        return list(
            s.exec(
                select(Event).where(
                    col(Event.unit_uuid) == unit_uuid, col(Event.event_type) == event_type
                )
            ).all()
        )


def _unit(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def test_standard_transfer_identifies_formats_and_creates_sip(tmp_path, dispatched):
    src = make_sample(tmp_path / "sample")
    before = tree_digest(src)
    uuid = start_transfer("sample", src, processing_config="automated")
    assert dispatched.submitted[0] == ("transfer", {"unit_uuid": uuid})

    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE

    assert tree_digest(src) == before  # the source is never modified
    files = _files(uuid)
    puids = {p: f.puid for p, f in files.items()}
    assert puids["objects/doc.pdf"].startswith("fmt/")
    assert puids["objects/image.png"] == "fmt/11"
    assert puids["objects/photo.jpg"] == "fmt/43"
    assert puids["objects/scan.tif"] == "fmt/353"
    assert puids["objects/notes.txt"] == "x-fmt/111"
    assert puids["objects/bundle.zip"] == "x-fmt/263"
    assert files["objects/bundle.zip"].removed  # extracted and deleted (automated)
    extracted = [f for p, f in files.items() if p.endswith("inner/readme.txt")]
    assert len(extracted) == 1 and extracted[0].checksum
    # 6 objects + 1 extracted file + the transfer METS (submission documentation)
    assert len(_events(uuid, "format identification")) == 8
    assert len(_events(uuid, "ingestion")) == 8
    assert len(_events(uuid, "unpacking")) == 1
    digests = _events(uuid, "message digest calculation")
    assert {e.outcome_note for e in digests} == {f.checksum for f in files.values()}

    transfer = _unit(uuid)
    info = Recorder().status_info(uuid)
    assert info is not None and info.sip_uuid == transfer.sip_uuid
    sip = _unit(transfer.sip_uuid or "")
    assert sip.unit_type == UnitType.SIP and sip.transfer_uuid == uuid
    sip_dir = Path(sip.current_path or "")
    assert (sip_dir / "objects" / "doc.pdf").is_file()
    assert (sip_dir / "processingMCP.xml").is_file()
    mets = list((sip_dir / "objects" / "submissionDocumentation").glob("transfer-*/METS.xml"))
    assert len(mets) == 1
    for f in files.values():
        if not f.removed:
            assert f.sip_uuid == sip.uuid and (sip_dir / f.current_path).is_file()
    assert ("ingest", {"unit_uuid": sip.uuid}) in dispatched.submitted


def test_source_inside_location_and_escape_refused(tmp_path, dispatched, custos_home):
    from custos.models import LocationPurpose
    from custos.storage import default_location

    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    make_sample(Path(loc.path) / "in-location")
    uuid = start_transfer("loc", (loc.uuid, "in-location"), processing_config="automated")
    folder = Path(_unit(uuid).current_path or "")
    assert not folder.exists()  # copied by the flow's first job, not by start_transfer
    assert move_to_processing.fn(uuid) == "continue"
    assert (folder / "image.png").is_file()
    with pytest.raises(InvalidInput):
        start_transfer("bad", (loc.uuid, "../../etc"))
    with pytest.raises(NotFound):
        start_transfer("bad", (loc.uuid, "missing"))


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "7z"])
def test_zipfile_transfer(tmp_path, dispatched, kind):
    src = make_sample(tmp_path / "content")
    archive = tmp_path / f"pack.{kind}"
    if kind == "zip":
        shutil.make_archive(str(tmp_path / "pack"), "zip", tmp_path, "content")
    elif kind == "tar.gz":
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(src, arcname="content")
    else:
        import subprocess

        subprocess.run(
            ["7zz", "a", "-bd", str(archive), "content"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
    uuid = start_transfer("zipped", archive, "zipfile", "automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    assert "objects/photo.jpg" in _files(uuid)
    assert archive.is_file()


def _bag(tmp_path: Path) -> Path:
    bag_dir = make_sample(tmp_path / "bag")
    bagit.make_bag(str(bag_dir), {"Source-Organization": "Test"}, checksums=["sha256"])
    return bag_dir


def test_unzipped_bag_records_fixity_checks(tmp_path, dispatched):
    bag_dir = _bag(tmp_path)
    uuid = start_transfer("bag", bag_dir, "unzipped bag", "automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    files = _files(uuid)
    assert "objects/notes.txt" in files
    assert "metadata/submissionDocumentation/bag/bag-info.txt" in files
    checks = _events(uuid, "fixity check")
    assert len(checks) == 6 and {e.outcome for e in checks} == {"pass"}


@pytest.mark.parametrize("fmt", ["zip", "gztar"])
def test_zipped_bag(tmp_path, dispatched, fmt):
    bag_dir = _bag(tmp_path)
    archive = shutil.make_archive(str(tmp_path / "bagged"), fmt, tmp_path, "bag")
    uuid = start_transfer("zbag", Path(archive), "zipped bag", "automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    assert "objects/image.png" in _files(uuid)
    del bag_dir


def test_corrupted_bag_fails(tmp_path, dispatched):
    bag_dir = _bag(tmp_path)
    (bag_dir / "data" / "notes.txt").write_text("tampered\n")
    uuid = start_transfer("badbag", bag_dir, "unzipped bag", "automated")
    with pytest.raises(InvalidInput, match="notes.txt"):
        run_transfer(uuid, use_prefect=False)
    assert _unit(uuid).status == UnitStatus.FAILED
    assert "bag is invalid" in (_unit(uuid).error or "")


def test_wrong_checksum_file_names_file_algorithm_expected_found(tmp_path, dispatched):
    src = tmp_path / "sums"
    (src / "objects").mkdir(parents=True)
    (src / "metadata").mkdir()
    (src / "objects" / "a.txt").write_text("alpha\n")
    (src / "metadata" / "checksum.md5").write_text(f"{'0' * 32}  objects/a.txt\n")
    uuid = start_transfer("sums", src, processing_config="automated")
    with pytest.raises(FixityMismatch):
        run_transfer(uuid, use_prefect=False)
    with session_scope() as s:
        job = s.exec(
            select(Job).where(
                col(Job.unit_uuid) == uuid, col(Job.name) == "Verify metadata directory checksums"
            )
        ).one()
        assert job.status == JobStatus.FAILED
        task = s.exec(select(Task).where(col(Task.job_uuid) == job.uuid)).one()
    assert task.file_name == "objects/a.txt"
    assert "algorithm=md5" in task.stderr and f"expected={'0' * 32}" in task.stderr
    assert "found=" in task.stderr and "found=(missing)" not in task.stderr
    assert _unit(uuid).status == UnitStatus.FAILED


def test_eicar_fails_transfer_naming_file_and_signature(tmp_path, dispatched):
    src = tmp_path / "virus"
    src.mkdir()
    (src / "clean.txt").write_text("fine\n")
    (src / "eicar.com").write_bytes(EICAR)
    uuid = start_transfer("virus", src, processing_config="automated")
    with pytest.raises(InvalidInput, match=r"objects/eicar.com: .*EICAR"):
        run_transfer(uuid, use_prefect=False)
    checks = {e.outcome for e in _events(uuid, "virus check")}
    assert checks == {"Pass", "Fail"}
    unit = _unit(uuid)
    assert unit.status == UnitStatus.FAILED and "eicar.com" in (unit.error or "")
    assert Path(unit.current_path or "", "objects", "eicar.com").is_file()  # kept


def test_awkward_names_are_sanitized(tmp_path, dispatched):
    import os

    src = tmp_path / "names"
    src.mkdir()
    (src / "with space.txt").write_text("a")
    (src / "Été café.txt").write_text("b")
    Path(os.fsdecode(bytes(src) + b"/latin\xe9.txt")).write_text("c")
    before = tree_digest(src)
    uuid = start_transfer("names", src, processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    assert tree_digest(src) == before
    current = sorted(f.current_path for f in _files(uuid).values() if f.use == "original")
    assert current == ["objects/Ete_cafe.txt", "objects/latine.txt", "objects/with_space.txt"]
    originals = set(_files(uuid))
    assert "objects/latin\\xe9.txt" in originals and "objects/Été café.txt" in originals
    assert len(_events(uuid, "filename change")) == 3


def test_zip_slip_and_zip_bomb_fail(tmp_path, dispatched):
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("../../escaped.txt", "evil")
    uuid = start_transfer("slip", slip, "zipfile", "automated")
    with pytest.raises(InvalidInput):
        run_transfer(uuid, use_prefect=False)
    assert _unit(uuid).status == UnitStatus.FAILED
    assert not (tmp_path / "escaped.txt").exists()

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (64 * 1024 * 1024))
    uuid = start_transfer("bomb", bomb, "zipfile", "automated")
    with pytest.raises(InvalidInput, match="(?i)ratio|limit|size"):
        run_transfer(uuid, use_prefect=False)
    assert _unit(uuid).status == UnitStatus.FAILED


def test_empty_transfer_fails(tmp_path, dispatched):
    src = tmp_path / "empty"
    (src / "sub").mkdir(parents=True)
    uuid = start_transfer("empty", src, processing_config="automated")
    with pytest.raises(InvalidInput, match="no objects"):
        run_transfer(uuid, use_prefect=False)
    assert _unit(uuid).status == UnitStatus.FAILED


def test_symlink_loop_is_reported_not_followed(tmp_path, dispatched):
    src = tmp_path / "loop"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "self").symlink_to(".")
    uuid = start_transfer("loop", src, processing_config="automated")
    with pytest.raises(InvalidInput, match="objects/self: symlink"):
        run_transfer(uuid, use_prefect=False)
    assert (src / "self").is_symlink()


def test_transfer_mets_is_registered_as_submission_documentation(tmp_path, dispatched):
    import hashlib

    src = make_sample(tmp_path / "sample")
    uuid = start_transfer("mets", src, processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    unit = _unit(uuid)
    rows = [f for f in _files(uuid).values() if f.current_path.endswith("/METS.xml")]
    assert len(rows) == 1
    mets = rows[0]
    assert mets.use == "submissionDocumentation"
    assert mets.original_path == "metadata/submissionDocumentation/METS.xml"
    assert mets.sip_uuid == unit.sip_uuid
    sip = _unit(str(unit.sip_uuid))
    on_disk = Path(sip.current_path or "") / mets.current_path
    assert mets.current_path.startswith("objects/submissionDocumentation/transfer-")
    data = on_disk.read_bytes()
    assert mets.size == len(data)
    assert mets.checksum == hashlib.sha256(data).hexdigest() and mets.checksum_type == "sha256"
    assert mets.puid == "fmt/101"  # XML
    kinds = {
        e.event_type
        for e in _events(uuid, "ingestion")
        + _events(uuid, "message digest calculation")
        + _events(uuid, "format identification")
        if e.file_uuid == mets.uuid
    }
    assert kinds == {"ingestion", "message digest calculation", "format identification"}
    # The METS describes the transfer's other files, not itself.
    assert mets.uuid.encode() not in data


def test_transfer_mets_is_valid_and_built_like_the_aip_mets(tmp_path, dispatched):
    from lxml import etree

    from custos.mets.ns import XPATH_NS
    from custos.mets.validate import assert_valid_mets

    src = make_sample(tmp_path / "sample")
    uuid = start_transfer("mets-valid", src, processing_config="automated")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    row = next(f for f in _files(uuid).values() if f.current_path.endswith("/METS.xml"))
    sip = _unit(str(_unit(uuid).sip_uuid))
    data = (Path(sip.current_path or "") / row.current_path).read_bytes()
    assert_valid_mets(data)  # METS 1.12.1 + PREMIS 3, offline schemas
    tree = etree.fromstring(data)
    objects = tree.findall(".//premis:object", XPATH_NS)
    others = [f for f in _files(uuid).values() if f.uuid != row.uuid and not f.removed]
    assert len(objects) == len(others) > 0
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert {o.get(xsi_type) for o in objects} == {"premis:file"}
    names = {n.text for n in tree.findall(".//premis:originalName", XPATH_NS)}
    assert {f"%transferDirectory%{f.original_path}" for f in others} == names
    events = tree.findall(".//premis:event", XPATH_NS)
    kinds = {e.findtext("premis:eventType", namespaces=XPATH_NS) for e in events}
    assert {
        "ingestion",
        "message digest calculation",
        "virus check",
        "format identification",
    } <= kinds
    stamps = [e.findtext("premis:eventDateTime", namespaces=XPATH_NS) for e in events]
    assert all(s and (s.endswith("+00:00") or s.endswith("Z")) for s in stamps), stamps[:3]
