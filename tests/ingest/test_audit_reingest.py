"""Fixity audit of stored AIPs, and metadata reingest replacing the AIP (full
reingest: ``test_full_reingest.py``)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from sqlmodel import col, select

from custos import dispatch
from custos.db import session_scope
from custos.mets.read import read_mets
from custos.models import Event, Package, PackageStatus, Unit, UnitStatus
from custos.reingest import approve_reingest, start_reingest
from flows.audit import audit_package
from flows.ingest import ingest
from flows.reingest import reingest
from tasks.tools.compress import extract_aip

from .conftest import AUTOMATED, SipFactory, make_png


def _stored(make_sip: SipFactory, name: str, compression: str = "tar.gz") -> str:
    uuid, _ = make_sip(
        {"objects/a.txt": "precious\n"},
        name=name,
        options=AUTOMATED | {"normalize": "none", "compression_algorithm": compression},
    )
    assert ingest.fn(uuid) == "complete"
    return uuid


def _fixity_events(uuid: str) -> list[Event]:
    with session_scope() as s:
        return list(
            s.exec(
                select(Event)
                .where(
                    col(Event.unit_uuid) == uuid,
                    col(Event.file_uuid).is_(None),
                    col(Event.event_type) == "fixity check",
                )
                .order_by(col(Event.event_datetime))
            )
        )


def test_audit_passes_then_finds_a_corrupted_byte(make_sip: SipFactory, aip_store: Path) -> None:
    uuid = _stored(make_sip, "audited", compression="uncompressed")
    assert audit_package(uuid).outcome == "pass"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.last_fixity_outcome == "pass" and pkg.last_fixity_at
    victim = aip_store / pkg.path / "data" / "objects" / "a.txt"
    data = bytearray(victim.read_bytes())
    data[0] ^= 0x01
    victim.write_bytes(bytes(data))
    result = audit_package(uuid)
    assert result.outcome == "fail" and any("a.txt" in p for p in result.problems)
    last = _fixity_events(uuid)[-1]
    assert last.outcome == "fail" and "a.txt" in last.outcome_note
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.last_fixity_outcome == "fail"
        assert pkg.status == PackageStatus.STORED  # reported, never "fixed"
    assert victim.read_bytes() == bytes(data)


def test_audit_detects_archive_corruption(make_sip: SipFactory, aip_store: Path) -> None:
    uuid = _stored(make_sip, "audit7z", compression="7z-copy")
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None
    archive = aip_store / pkg.path
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = audit_package(uuid)
    assert result.outcome == "fail" and "sha256 mismatch" in result.problems[0]


def test_metadata_reingest_replaces_the_aip_after_verification(
    make_sip: SipFactory, aip_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uuid = _stored(make_sip, "again")
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None
        old_checksum, archive = pkg.checksum, aip_store / pkg.path
    old_mets = read_mets(
        (extract_aip(archive, tmp_path / "old") / "data" / f"METS.{uuid}.xml").read_bytes()
    )
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: "test-run")
    assert start_reingest(uuid, "metadata") == uuid
    assert reingest.fn(uuid) == "wait"  # Approve AIP reingest
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.USER_INPUT
        reingested = list(
            s.exec(
                select(Event).where(
                    col(Event.unit_uuid) == uuid, col(Event.event_type) == "reingestion"
                )
            )
        )
    assert len(reingested) == 1
    assert archive.is_file()  # the old AIP is still there while waiting
    approve_reingest(uuid)
    assert ingest.fn(uuid) == "complete"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
        assert pkg.checksum != old_checksum
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == f"again-{uuid}"
    new_mets_path = extract_aip(archive, tmp_path / "new") / "data" / f"METS.{uuid}.xml"
    header = new_mets_path.read_text()
    assert "LASTMODDATE" in header and f'CREATEDATE="{old_mets.createdate}"' in header
    new = read_mets(new_mets_path.read_bytes())
    assert set(new.files) == set(old_mets.files)
    assert "reingestion" in {e["type"] for e in new.events.values()}
    assert not list(aip_store.glob(f".reingest-{uuid}*"))


def test_cli_aip_list_and_verify(make_sip: SipFactory) -> None:
    import json

    from typer.testing import CliRunner

    from cli.aip import app

    uuid = _stored(make_sip, "cli", compression="7z-copy")
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "--json"])
    assert listed.exit_code == 0 and uuid in {r["uuid"] for r in json.loads(listed.stdout)}
    verified = runner.invoke(app, ["verify", uuid, "--json"])
    assert verified.exit_code == 0 and json.loads(verified.stdout)["outcome"] == "pass"
    missing = runner.invoke(app, ["verify", "no-such-aip", "--json"])
    assert missing.exit_code == 1


def test_partial_reingest_normalizes_by_the_configuration(
    make_sip: SipFactory, aip_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # First ingest without normalization; the unit's named config is "automated",
    # which normalizes for preservation: a partial reingest follows it.
    uuid, _ = make_sip(
        {"objects/p.png": make_png},
        name="partial",
        config="automated",
        options=AUTOMATED | {"normalize": "none", "compression_algorithm": "tar.gz"},
    )
    assert ingest.fn(uuid) == "complete"
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None
    archive = aip_store / pkg.path
    before = read_mets(
        (extract_aip(archive, tmp_path / "old") / "data" / f"METS.{uuid}.xml").read_bytes()
    )
    assert {f["use"] for f in before.files.values()} == {"original"}
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: "test-run")
    assert start_reingest(uuid, "partial") == uuid
    assert reingest.fn(uuid) == "wait"
    approve_reingest(uuid)
    assert ingest.fn(uuid) == "complete"
    bag = extract_aip(archive, tmp_path / "new")
    after = read_mets((bag / "data" / f"METS.{uuid}.xml").read_bytes())
    uses = sorted(f["use"] for f in after.files.values())
    assert uses == ["original", "preservation"]
    assert set(before.files) < set(after.files)  # the original keeps its UUID
    assert list((bag / "data" / "objects").glob("p-*.tif"))


def test_unknown_reingest_type_is_refused_clearly(
    make_sip: SipFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custos.errors import InvalidInput

    uuid = _stored(make_sip, "full")
    submitted: list[tuple[object, ...]] = []
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: submitted.append(a))
    with pytest.raises(InvalidInput, match="unknown reingest type 'objects'.*full"):
        start_reingest(uuid, "objects")  # type: ignore[arg-type]
    assert submitted == []
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        pkg = s.get(Package, uuid)
        assert unit is not None and unit.status == UnitStatus.COMPLETE
        assert pkg is not None and pkg.status == PackageStatus.STORED


def test_reading_the_mets_again_after_a_crash_adds_nothing(
    make_sip: SipFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from custos.models import File, Job, JobStatus
    from flows.reingest import prepare_reingest

    uuid = _stored(make_sip, "crashed")
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: "test-run")
    start_reingest(uuid, "metadata")
    prepare_reingest.fn(uuid)
    # The process died before the parse job was recorded COMPLETE: it runs again.
    with session_scope() as s:
        s.execute(
            update(Job)
            .where(col(Job.unit_uuid) == uuid, col(Job.name) == "Parse the METS into the database")
            .values(status=JobStatus.FAILED)
        )
    prepare_reingest.fn(uuid)
    with session_scope() as s:
        files = list(s.exec(select(File.uuid).where(col(File.sip_uuid) == uuid)))
        reingestion = list(
            s.exec(
                select(Event.file_uuid).where(
                    col(Event.unit_uuid) == uuid, col(Event.event_type) == "reingestion"
                )
            )
        )
    assert len(files) == 1 and reingestion == files
    assert reingest.fn(uuid) == "wait"
    approve_reingest(uuid)
    assert ingest.fn(uuid) == "complete"


def test_audit_during_a_replacement_waits_for_it_instead_of_failing(
    make_sip: SipFactory, aip_store: Path
) -> None:
    """A reingest swaps the new archive in, then records its digest; an audit that
    read the old digest must not report the new archive as damaged."""
    import fcntl
    import hashlib
    import os
    import threading
    import time

    from tasks.aipreplace import staging_dir

    uuid = _stored(make_sip, "swapped")
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None
        stored = aip_store / pkg.path
    new = stored.with_name(".new-" + stored.name)  # same bag, other bytes: a new version
    with tarfile.open(stored) as src, tarfile.open(new, "w:gz", compresslevel=1) as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
    new_sha = hashlib.sha256(new.read_bytes()).hexdigest()
    staging = staging_dir(aip_store, uuid)
    staging.mkdir()
    fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a replacement in progress, between swap and record
    os.replace(new, stored)
    results: list[str] = []
    auditor = threading.Thread(target=lambda: results.append(audit_package(uuid).outcome))
    auditor.start()
    time.sleep(1.5)
    assert auditor.is_alive()  # waiting for the replacement, not reporting damage
    with session_scope() as s:
        row = s.get(Package, uuid)
        assert row is not None
        row.checksum = new_sha
    os.close(fd)  # the replacement ends
    auditor.join(60)
    staging.rmdir()
    assert results == ["pass"]
    assert _fixity_events(uuid)[-1].outcome == "pass"
