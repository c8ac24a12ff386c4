"""Full reingest: a stored AIP back through a transfer of type "Archivematica AIP",
normalized again, and stored in place of the old AIP once the new one verifies."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from custos import dispatch
from custos.db import session_scope
from custos.errors import Conflict
from custos.mets.read import METSContents, read_mets
from custos.models import Event, Package, PackageStatus, Unit, UnitStatus
from custos.reingest import start_reingest
from custos.transfers import start_transfer
from tasks import aipstore
from tasks.tools.compress import extract_aip
from tests.support.recording import RecordingBackend

from .conftest import make_png


def _unit(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def _package(uuid: str) -> Package:
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
        return pkg


def _mets(archive: Path, into: Path, uuid: str) -> tuple[METSContents, str, Path]:
    bag = extract_aip(archive, into)
    mets_path = bag / "data" / f"METS.{uuid}.xml"
    return read_mets(mets_path), mets_path.read_text(), bag


def _by_name(contents: METSContents, use: str) -> dict[str, dict[str, Any]]:
    return {
        Path(f["path"]).name: f
        for f in contents.files.values()
        if f["use"] == use
        and not f["path"].startswith(("objects/metadata/", "objects/submissionDocumentation/"))
    }


def _event_types(contents: METSContents, info: dict[str, Any]) -> list[str]:
    return [contents.events[e]["type"] for e in info["events"]]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_full_reingest_rebuilds_the_aip_through_a_transfer(
    custos_home: Path,
    tmp_path: Path,
    aip_store: Path,
    inline_flows: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_png(src / "diagram.png")
    (src / "notes.txt").write_text("kept for ever\n")
    # "automated" answers every decision and normalizes for preservation.
    first = start_transfer("fullre", src, processing_config="automated")
    assert dispatch.inline_backend().wait_all(900), "inline flows still running"
    aip_uuid = _unit(first).sip_uuid
    assert aip_uuid
    assert dispatch.inline_backend().wait_all(900), "inline flows still running"
    assert _unit(aip_uuid).status == UnitStatus.COMPLETE, _unit(aip_uuid).error
    old_pkg = _package(aip_uuid)
    archive = aip_store / old_pkg.path
    old, old_text, _ = _mets(archive, tmp_path / "old", aip_uuid)
    old_originals = _by_name(old, "original")
    old_derivatives = _by_name(old, "preservation")
    assert set(old_originals) == {"diagram.png", "notes.txt"}
    assert len(old_derivatives) == 1 and "LASTMODDATE" not in old_text

    # Every copy into the store (``store_aip`` verifies it against the packaged
    # digest before returning), and whether the old AIP was still intact then.
    copies: list[tuple[Path, bool]] = []
    real_store = aipstore.store_aip

    def watched(source: Path, store_dir: Path, *args: Any, **kwargs: Any) -> Any:
        stored = real_store(source, store_dir, *args, **kwargs)
        copies.append((Path(store_dir), archive.is_file() and _sha256(archive) == old_pkg.checksum))
        return stored

    monkeypatch.setattr(aipstore, "store_aip", watched)

    transfer_uuid = start_reingest(aip_uuid, "full")
    assert transfer_uuid != aip_uuid
    assert dispatch.inline_backend().wait_all(900), "inline flows still running"
    transfer = _unit(transfer_uuid)
    assert transfer.status == UnitStatus.COMPLETE, transfer.error
    assert transfer.transfer_type == "Archivematica AIP"
    assert transfer.sip_uuid == aip_uuid  # Archivematica keeps the AIP's UUID
    assert dispatch.inline_backend().wait_all(900), "inline flows still running"
    assert not inline_flows.errors
    sip = _unit(aip_uuid)
    assert sip.status == UnitStatus.COMPLETE, sip.error
    assert sip.transfer_uuid == transfer_uuid

    # The old AIP stayed in place until the new version had verified in the store.
    assert copies == [(aip_store / f".reingest-{aip_uuid}", True)]
    new_pkg = _package(aip_uuid)
    assert new_pkg.path == old_pkg.path and new_pkg.checksum != old_pkg.checksum
    assert _sha256(archive) == new_pkg.checksum
    assert not list(aip_store.glob(f".reingest-{aip_uuid}*"))

    new, new_text, bag = _mets(archive, tmp_path / "new", aip_uuid)
    assert bag.name == f"fullre-{aip_uuid}"
    assert f'CREATEDATE="{old.createdate}"' in new_text and new.lastmoddate
    new_originals = _by_name(new, "original")
    for name, before in old_originals.items():
        after = new_originals[name]
        assert after["uuid"] == before["uuid"]  # the METS-recorded UUID came back
        assert after["checksum"] == before["checksum"] and after["puid"] == before["puid"]
        types = _event_types(new, after)
        assert "reingestion" in types
        assert set(before["events"]) <= set(after["events"])  # history kept
        # The transfer ran again: a second virus scan and identification.
        assert types.count("virus check") == _event_types(old, before).count("virus check") + 1
        assert types.count("format identification") >= 2
    new_derivatives = _by_name(new, "preservation")
    assert len(new_derivatives) == 1
    (derivative,) = new_derivatives.values()
    assert derivative["uuid"] not in old.files  # normalized again
    sources = [
        r["related_uuid"] for r in derivative["relationships"] if r["sub_type"] == "has source"
    ]
    assert sources == [old_originals["diagram.png"]["uuid"]]
    assert (bag / "data" / derivative["path"]).is_file()
    assert "normalization" in _event_types(new, new_originals["diagram.png"])
    # Metadata and submission documentation (the first transfer's METS) come back
    # with their UUIDs and paths; the reingest transfer adds its own METS.
    kept = {u: f["path"] for u, f in old.files.items() if f["use"] != "preservation"}
    assert {u: new.files[u]["path"] for u in kept if u in new.files} == kept
    assert all((bag / "data" / path).is_file() for path in kept.values())
    assert sum(f["use"] == "submissionDocumentation" for f in new.files.values()) == (
        sum(f["use"] == "submissionDocumentation" for f in old.files.values()) + 1
    )
    with session_scope() as s:
        reingested = set(
            s.exec(
                select(Event.file_uuid).where(
                    col(Event.unit_uuid) == transfer_uuid, col(Event.event_type) == "reingestion"
                )
            )
        )
    assert {f["uuid"] for f in old_originals.values()} <= reingested


def test_full_reingest_refuses_a_second_one_while_the_first_runs(
    custos_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custos.models import LocationPurpose, new_uuid
    from custos.storage import default_location

    submitted: list[tuple[Any, ...]] = []
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: submitted.append(a))
    aip = new_uuid()
    loc = default_location(LocationPurpose.AIP_STORAGE).uuid
    with session_scope() as s:
        s.add(
            Package(
                uuid=aip,
                name=f"box-{aip}",
                location_uuid=loc,
                path=f"box-{aip}.7z",
                status=PackageStatus.STORED,
            )
        )
    transfer = start_reingest(aip, "full")
    assert submitted == [("transfer", transfer)]
    unit = _unit(transfer)
    assert unit.transfer_type == "Archivematica AIP" and unit.name == "box"
    assert unit.variables["pending_sip_uuid"] == aip
    assert _unit(aip).variables["reingest"] == "full"
    with pytest.raises(Conflict):
        start_reingest(aip, "full")


def test_cli_starts_a_full_reingest(recorded_runs: RecordingBackend) -> None:
    import json

    from typer.testing import CliRunner

    from cli.aip import app
    from custos.models import LocationPurpose, new_uuid
    from custos.storage import default_location

    submitted = recorded_runs.submitted  # a backend forced for the process: the CLI uses it
    aip = new_uuid()
    with session_scope() as s:
        s.add(
            Package(
                uuid=aip,
                name=f"cli-{aip}",
                path=f"cli-{aip}.7z",
                location_uuid=default_location(LocationPurpose.AIP_STORAGE).uuid,
                status=PackageStatus.STORED,
            )
        )
    runner = CliRunner()
    unknown = runner.invoke(
        app, ["reingest", aip, "--type", "full", "--processing-config", "no-such-config", "--json"]
    )
    assert unknown.exit_code != 0 and submitted == []
    res = runner.invoke(app, ["reingest", aip, "--type", "full", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["type"] == "full" and out["reingest_uuid"] != aip
    assert submitted == [("transfer", {"unit_uuid": out["reingest_uuid"]})]
    assert _unit(out["reingest_uuid"]).processing_config == "default"
