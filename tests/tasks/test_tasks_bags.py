"""BagIt validation on real bags made with bagit-python, then damaged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import bagit
import pytest

from custos.bag_check import validate_bag
from custos.sniff import is_bag


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    root = tmp_path / "bag"
    (root / "objects" / "sub").mkdir(parents=True)
    (root / "objects" / "a.txt").write_text("alpha")
    (root / "objects" / "sub" / "café b.txt").write_text("beta")
    bagit.make_bag(str(root), {"External-Identifier": "x"}, checksums=["sha256", "md5"])
    return root


def test_valid_bag(bag: Path, tmp_path: Path) -> None:
    assert is_bag(bag)
    assert not is_bag(tmp_path) and not is_bag(bag / "bagit.txt")
    report = validate_bag(bag)
    assert report.valid, report.problems
    assert report.version == "0.97"
    assert sorted(report.algorithms) == ["md5", "sha256"]
    assert report.info["External-Identifier"] == ["x"]
    payload = {(c.path, c.algorithm) for c in report.payload_checks}
    assert ("data/objects/sub/café b.txt", "sha256") in payload and len(payload) == 4
    assert any(c.tag_file and c.path == "bag-info.txt" for c in report.checks)
    assert all(c.passed for c in report.checks)
    assert report.event_detail.startswith('program="bagit-python"; version="')


def test_corrupted_bag_reports_every_problem(bag: Path) -> None:
    (bag / "data" / "objects" / "a.txt").write_text("ALPHA")  # same size, other bytes
    (bag / "data" / "objects" / "sub" / "café b.txt").unlink()
    (bag / "data" / "extra.txt").write_text("surprise")
    report = validate_bag(bag)
    assert not report.valid
    kinds = {(p.kind, p.path) for p in report.problems}
    assert ("mismatch", "data/objects/a.txt") in kinds
    assert ("missing", "data/objects/sub/café b.txt") in kinds
    assert ("unexpected", "data/extra.txt") in kinds
    assert ("oxum", None) in kinds
    mismatch = next(p for p in report.problems if p.kind == "mismatch" and p.algorithm == "md5")
    assert mismatch.expected == hashlib.md5(b"alpha").hexdigest()
    assert mismatch.found == hashlib.md5(b"ALPHA").hexdigest()
    failed = {c.path for c in report.checks if not c.passed}
    assert failed == {"data/objects/a.txt", "data/objects/sub/café b.txt"}


def test_fast_skips_digests_but_checks_oxum(bag: Path) -> None:
    (bag / "data" / "objects" / "a.txt").write_text("ALPHA")
    assert validate_bag(bag, fast=True).valid  # same size: only a full check sees it
    (bag / "data" / "objects" / "a.txt").write_text("ALPHA!")
    report = validate_bag(bag, fast=True)
    assert [p.kind for p in report.problems] == ["oxum"] and report.checks == []


def test_tag_manifest_and_symlink_and_unsafe_path(bag: Path) -> None:
    with open(bag / "bag-info.txt", "a") as fh:
        fh.write("Contact-Name: Someone\n")
    (bag / "data" / "link").symlink_to("/etc/passwd")
    report = validate_bag(bag)
    kinds = {(p.kind, p.path) for p in report.problems}
    assert ("mismatch", "bag-info.txt") in kinds
    assert ("symlink", "data/link") in kinds

    manifest = bag / "manifest-sha256.txt"
    manifest.write_text(manifest.read_text() + "0" * 64 + "  ../../etc/passwd\n")
    report = validate_bag(bag)
    assert [p.kind for p in report.problems] == ["structure"]
    assert "unsafe" in report.problems[0].message


def test_not_a_bag(tmp_path: Path) -> None:
    report = validate_bag(tmp_path)
    assert not report.valid and report.problems[0].kind == "structure"
