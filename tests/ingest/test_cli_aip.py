"""``custos aip show`` and ``custos aip download`` on AIPs stored by a real ingest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.aip import app
from custos.db import session_scope
from custos.models import Package
from flows.audit import audit_package
from flows.ingest import ingest
from tasks.aipstore import leftovers, verify_stored_aip

from .conftest import AUTOMATED, SipFactory, make_png

runner = CliRunner()


def _stored(make_sip: SipFactory, name: str, compression: str) -> tuple[str, Package]:
    uuid, _ = make_sip(
        {
            "objects/p.png": make_png,
            "objects/notes/a.txt": "first\n",
            "objects/notes/b.txt": "second\n",
        },
        name=name,
        options=AUTOMATED | {"normalize": "preservation", "compression_algorithm": compression},
    )
    assert ingest.fn(uuid) == "complete"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None
        s.expunge(pkg)
    return uuid, pkg


def _json(args: list[str]) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("compression", ["7z-copy", "tar.gz", "uncompressed"])
def test_show_reports_the_package_and_counts_the_files_of_its_mets(
    make_sip: SipFactory, aip_store: Path, compression: str
) -> None:
    uuid, pkg = _stored(make_sip, f"show-{compression.replace('.', '')}", compression)
    audit_package(uuid)
    code, info = _json(["show", uuid])
    assert code == 0
    assert info["uuid"] == uuid and info["status"] == "STORED"
    assert info["stored_path"] == str(aip_store / pkg.path)
    assert info["size"] == pkg.size and info["checksum"] == pkg.checksum
    assert info["last_fixity_outcome"] == "pass" and info["last_fixity_at"]
    location = info["location"]
    assert isinstance(location, dict) and location["path"] == str(aip_store)
    # three originals and the PNG's TIFF, as written in the METS inside the AIP
    assert info["file_count"] == 4
    assert info["files_by_use"] == {"original": 3, "preservation": 1}
    human = runner.invoke(app, ["show", uuid])
    assert human.exit_code == 0 and "4 (3 original, 1 preservation)" in human.stdout


def test_show_of_an_unknown_aip_fails() -> None:
    code, info = _json(["show", "00000000-0000-0000-0000-000000000000"])
    assert code == 1 and info["error"] == "NotFound"


def test_download_copies_the_verified_aip_and_never_overwrites(
    make_sip: SipFactory, aip_store: Path, tmp_path: Path
) -> None:
    uuid, pkg = _stored(make_sip, "fetch", "7z-copy")
    dest = tmp_path / "downloads"
    dest.mkdir()
    code, out = _json(["download", uuid, str(dest)])
    copy = dest / pkg.path
    assert code == 0 and out["path"] == str(copy)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == pkg.checksum == out["sha256"]
    assert verify_stored_aip(copy, pkg.checksum, extract=True).problems == ()

    copy.write_bytes(b"my own edits")
    code, out = _json(["download", uuid, str(dest)])
    assert code == 1 and "already exists" in str(out["message"])
    assert copy.read_bytes() == b"my own edits" and leftovers(dest) == []
    # a new file name is fine
    code, out = _json(["download", uuid, str(dest / "renamed.7z")])
    assert code == 0 and (dest / "renamed.7z").read_bytes() == (aip_store / pkg.path).read_bytes()


def test_download_of_an_uncompressed_aip_and_of_a_damaged_one(
    make_sip: SipFactory, aip_store: Path, tmp_path: Path
) -> None:
    uuid, pkg = _stored(make_sip, "fetchdir", "uncompressed")
    code, _ = _json(["download", uuid, str(tmp_path)])
    assert code == 0 and (tmp_path / pkg.path / "bagit.txt").is_file()
    assert verify_stored_aip(tmp_path / pkg.path).problems == ()

    damaged_uuid, damaged = _stored(make_sip, "fetchbad", "tar.gz")
    archive = aip_store / damaged.path
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    target = tmp_path / "bad"
    target.mkdir()
    code, out = _json(["download", damaged_uuid, str(target)])
    assert code == 1 and out["error"] == "FixityMismatch"
    assert list(target.iterdir()) == []  # neither the copy nor its temporary name
