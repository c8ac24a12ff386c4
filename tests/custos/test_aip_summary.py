"""An AIP page's contents: the METS read out of the stored AIP (directory, 7z, tar)
as a file tree, the fixity history, and the AIP streamed for download."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from custos.aip_read import stored_aip, stream_aip
from custos.aip_summary import FileEntry, TreeDir, aip_summary, mets_summary
from custos.db import session_scope
from custos.errors import InvalidInput, NotFound
from custos.mets.mets import build_mets, mets_bytes
from custos.mets.read import read_mets
from custos.models import Event, Location, LocationPurpose, Package, PackageStatus, Unit, UnitType
from custos.stored_aips import read_member
from tests.mets.conftest import WHEN, sample_aip


def _mets(uuid: str) -> bytes:
    aip = dataclasses.replace(sample_aip(), uuid=UUID(uuid))
    return mets_bytes(build_mets(aip, now=lambda: WHEN))


def _bag(root: Path, uuid: str) -> Path:
    bag = root / f"sample-{uuid}"
    (bag / "data" / "objects").mkdir(parents=True)
    (bag / "data" / f"METS.{uuid}.xml").write_bytes(_mets(uuid))
    (bag / "data" / "objects" / "report.txt").write_text("report\n" * 1000)
    (bag / "bagit.txt").write_text("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")
    return bag


def _store(tmp_path: Path, kind: str) -> str:
    """A stored AIP of ``kind`` (dir, 7z, tar.gz) with a SIP and two fixity checks."""
    from custos.models import new_uuid

    uuid = new_uuid()
    store = tmp_path / "store"
    store.mkdir()
    bag = _bag(tmp_path / "build", uuid)
    if kind == "dir":
        stored = store / bag.name
        bag.rename(stored)
    elif kind == "7z":
        stored = store / f"{bag.name}.7z"
        subprocess.run(["7zz", "a", "-bd", str(stored), str(bag)], check=True, capture_output=True)
    else:
        stored = store / f"{bag.name}.tar.gz"
        with tarfile.open(stored, "w:gz") as tar:
            tar.add(bag, arcname=bag.name)
    with session_scope() as s:
        loc = Location(purpose=LocationPurpose.AIP_STORAGE, path=str(store), description="Vault")
        s.add(loc)
        s.add(Unit(uuid=uuid, unit_type=UnitType.SIP, name="sample", accession="ACC-9"))
        s.flush()
        s.add(
            Package(
                uuid=uuid,
                name="sample",
                location_uuid=loc.uuid,
                path=stored.name,
                status=PackageStatus.STORED,
                stored_at=datetime.now(UTC),
            )
        )
        s.flush()
        for n, outcome in enumerate(("pass", "fail")):
            s.add(
                Event(
                    unit_uuid=uuid,
                    event_type="fixity check",
                    event_datetime=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=n),
                    outcome=outcome,
                    outcome_note=f"check {n}",
                )
            )
        s.add(Event(unit_uuid=uuid, event_type="ingestion"))  # not a fixity check
    return uuid


def test_mets_summary_is_a_file_tree_with_formats_checksums_and_events() -> None:
    summary = mets_summary(read_mets(_mets("00000000-0000-0000-0000-0000000001f4")))
    objects = summary.root.dirs["objects"]
    docs = objects.dirs["docs"]
    report = next(f for f in docs.files if f.name == "report.txt")
    assert report.size == 12 and report.checksum == "a" * 64
    assert report.checksum_algorithm == "sha256"
    assert report.puid == "x-fmt/111" and report.format_label == "Plain Text File (x-fmt/111)"
    assert [e.type for e in report.events] == [
        "ingestion",
        "message digest calculation",
        "format identification",
        "normalization",
    ]
    blob = next(f for f in objects.files if f.name == "blob.bin")
    assert blob.format_label == "Unknown"
    assert summary.by_use == {
        "original": 2,
        "preservation": 1,
        "metadata": 1,
        "submissionDocumentation": 1,
    }
    assert summary.root.file_count == 5 and docs.size == 12 + 2048
    walked = [(d, e.name) for d, e in summary.root.walk()]
    assert walked[0] == (0, "objects") and (1, "blob.bin") in walked
    kinds = [isinstance(e, TreeDir) for _, e in summary.root.walk()]
    assert kinds.index(False) > 0 and all(
        isinstance(e, TreeDir | FileEntry) for _, e in summary.root.walk()
    )


@pytest.mark.parametrize("kind", ["dir", "7z", "tar.gz"])
def test_aip_summary_reads_the_stored_mets(tmp_path: Path, kind: str) -> None:
    uuid = _store(tmp_path, kind)
    summary = aip_summary(uuid)
    assert summary.accession == "ACC-9"
    assert summary.stored.location_description == "Vault"
    assert summary.mets.root.file_count == 5
    assert [(c.outcome, c.note) for c in summary.fixity] == [
        ("fail", "check 1"),
        ("pass", "check 0"),
    ]
    assert aip_summary(uuid).mets is summary.mets  # cached per stored version


def test_missing_member_and_unknown_aip(tmp_path: Path) -> None:
    uuid = _store(tmp_path, "7z")
    path = stored_aip(uuid).path
    with pytest.raises(InvalidInput, match="holds no"):
        read_member(path, "data/none.xml")
    with pytest.raises(NotFound):
        aip_summary("00000000-0000-0000-0000-000000000000")
    path.unlink()
    with pytest.raises(NotFound, match="missing from its store"):
        aip_summary(uuid)


def test_stream_sends_an_archive_as_stored(tmp_path: Path) -> None:
    uuid = _store(tmp_path, "7z")
    path = stored_aip(uuid).path
    assert b"".join(stream_aip(path)) == path.read_bytes()


def test_stream_sends_a_directory_as_a_tar(tmp_path: Path) -> None:
    uuid = _store(tmp_path, "dir")
    stored = stored_aip(uuid)
    assert stored.download_name == f"{stored.path.name}.tar"
    data = b"".join(stream_aip(stored.path))
    assert len(data) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
        report = tar.extractfile(f"{stored.path.name}/data/objects/report.txt")
        assert report is not None and report.read() == b"report\n" * 1000
    assert f"{stored.path.name}/data/METS.{uuid}.xml" in names
    assert f"{stored.path.name}/bagit.txt" in names
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", "-", "-C", str(out)], input=data, check=True)
    assert (out / stored.path.name / "data/objects/report.txt").read_text() == "report\n" * 1000
