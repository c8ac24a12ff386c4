"""Building the AIP bag from a SIP, verifying it, and catching damage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from uuid import UUID

import bagit
import pytest

from custos import __version__
from custos.errors import InvalidInput, StorageError
from custos.stored_aips import verify_aip_bag
from tasks.aip_bag import BagResult, build_aip_bag

SIP_UUID = UUID("d31cc44f-ce01-4e67-affe-513868d9cf3d")  # the conftest's SIP


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_layout_and_tag_files(bag: BagResult, sip: Path) -> None:
    root = bag.path
    assert root.name == f"my-aip-{SIP_UUID}"
    data = root / "data"
    assert sorted(p.name for p in data.iterdir()) == sorted(
        ["objects", "logs", "thumbnails", f"METS.{SIP_UUID}.xml"]
    )
    assert (data / "objects" / "empty" / "deeper").is_dir()  # empty dirs kept
    assert (data / "thumbnails").is_dir()
    info = (root / "bag-info.txt").read_text()
    assert f"External-Identifier: {SIP_UUID}\n" in info
    assert "Bagging-Date: 2024-03-01\n" in info
    assert f"Bag-Software-Agent: Custos {__version__}\n" in info
    payload = [p for p in data.rglob("*") if p.is_file()]
    oxum = f"{sum(p.stat().st_size for p in payload)}.{len(payload)}"
    assert f"Payload-Oxum: {oxum}\n" in info and bag.payload_oxum == oxum
    assert (root / "bagit.txt").read_text().startswith("BagIt-Version: 0.97\n")
    assert {p.name for p in root.glob("*manifest-*.txt")} == {
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
    }
    # One checksum was supplied, the other four files were hashed.
    assert (bag.files, bag.reused, bag.hashed) == (5, 1, 4)
    # Same filesystem: payload is hard-linked, not copied.
    assert bag.linked == 5
    assert os.path.samefile(data / "objects/docs/report.txt", sip / "objects/docs/report.txt")


def test_bag_is_valid_for_us_and_for_bagit_python(bag: BagResult) -> None:
    assert verify_aip_bag(bag.path, sip_uuid=SIP_UUID).valid
    bagit.Bag(str(bag.path)).validate()  # raises if bagit-python disagrees


def test_supplied_checksum_is_not_recomputed_but_is_verified(sip: Path, tmp_path: Path) -> None:
    wrong = {"objects/docs/report.txt": "0" * 64}
    result = build_aip_bag(sip, tmp_path / "w2", name="x", sip_uuid=SIP_UUID, checksums=wrong)
    manifest = (result.path / "manifest-sha256.txt").read_text()
    assert f"{'0' * 64}  data/objects/docs/report.txt" in manifest
    report = verify_aip_bag(result.path)
    assert not report.valid
    assert any("report.txt" in p.message for p in report.problems)


def test_flipped_byte_detected(bag: BagResult) -> None:
    target = bag.path / "data/objects/docs/café ñ.bin"
    target.unlink()  # break the hard link so the SIP copy stays intact
    blob = bytearray((bag.path.parent.parent / "sip/objects/docs/café ñ.bin").read_bytes())
    blob[100] ^= 0x01
    target.write_bytes(bytes(blob))
    report = verify_aip_bag(bag.path)
    assert not report.valid
    (problem,) = report.problems
    assert "café ñ.bin" in problem.message and problem.expected != problem.found


def test_missing_and_extra_files_detected(bag: BagResult) -> None:
    (bag.path / "data/logs/fileFormatIdentification.log").unlink()
    (bag.path / "data/objects/intruder.txt").write_text("x")
    messages = " | ".join(p.message for p in verify_aip_bag(bag.path).problems)
    assert "fileFormatIdentification.log" in messages
    assert "intruder.txt" in messages


def test_tampered_tag_file_detected(bag: BagResult) -> None:
    info = bag.path / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: someone\n")
    assert any("bag-info.txt" in p.message for p in verify_aip_bag(bag.path).problems)


def test_wrong_external_identifier_and_missing_mets(bag: BagResult) -> None:
    other = UUID(int=7)
    messages = [p.message for p in verify_aip_bag(bag.path, sip_uuid=other).problems]
    assert any("External-Identifier" in m for m in messages)
    assert any(f"METS.{other}.xml" in m for m in messages)


def test_sip_without_objects_and_existing_destination(sip: Path, bag: BagResult) -> None:
    with pytest.raises(InvalidInput):
        build_aip_bag(sip / "logs", bag.path.parent, name="y", sip_uuid=SIP_UUID)
    with pytest.raises(StorageError):
        build_aip_bag(sip, bag.path.parent, name="my-aip", sip_uuid=SIP_UUID)


def test_reused_checksum_matches_content(bag: BagResult, sip: Path) -> None:
    manifest = (bag.path / "manifest-sha256.txt").read_text().splitlines()
    entries = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in manifest}
    for rel, digest in entries.items():
        assert sha256(bag.path / rel) == digest
