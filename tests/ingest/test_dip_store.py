"""The DIP is stored as an AIP is: a temporary copy checked against the DIP, every
file and folder fsync'ed before the rename, nothing under its final name otherwise."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import InvalidInput, StorageError
from custos.models import LocationPurpose, Package, PackageStatus, Unit, UnitStatus
from flows.ingest import ingest
from tasks import aipstore
from tasks.ingest import package
from tasks.ingest.sip import load_sip

from .conftest import AUTOMATED, SipFactory, make_png


def _dip_row(name: str) -> Package | None:
    with session_scope() as s:
        row = s.exec(
            select(Package).where(col(Package.package_type) == "DIP", col(Package.name) == name)
        ).first()
        if row is not None:
            s.expunge(row)
        return row


def test_a_dip_damaged_on_its_way_to_the_store_fails_the_sip(
    make_sip: SipFactory, dip_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uuid, _ = make_sip({"objects/photo.png": make_png}, name="dipbad", options=AUTOMATED)
    real_copytree = shutil.copytree

    def copytree(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        done = real_copytree(src, dst, *args, **kwargs)
        if Path(src).name == "DIP":  # one flipped byte in an access copy
            victim = next(p for p in sorted(Path(dst, "objects").rglob("*")) if p.is_file())
            data = bytearray(victim.read_bytes())
            data[-1] ^= 0xFF
            victim.write_bytes(bytes(data))
        return done

    monkeypatch.setattr(aipstore.shutil, "copytree", copytree)
    with pytest.raises(InvalidInput, match="does not match its source"):
        ingest.fn(uuid)
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.FAILED
        error = unit.error or ""
    name = f"dipbad-{uuid}"
    assert re.match(
        rf"Prepare DIP: stored copy of {name} does not match its source: "
        r"objects/\S+-photo\.jpg differs from the DIP \(sha256 ",
        error,
    ), error
    assert not (dip_store / name).exists()
    assert [p for p in aipstore.leftovers(dip_store) if name in p.name] == []
    row = _dip_row(name)
    assert row is not None and row.status == PackageStatus.STORING


def test_a_stored_dip_is_verified_and_synced_before_its_rename(
    make_sip: SipFactory, dip_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uuid, _ = make_sip({"objects/photo.png": make_png}, name="dipok", options=AUTOMATED)
    synced: list[Path] = []
    renames: list[tuple[Path, Path, int]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: Any, dst: Any) -> None:
        renames.append((Path(src), Path(dst), len(synced)))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    assert ingest.fn(uuid) == "complete"
    name = f"dipok-{uuid}"
    final = dip_store / name
    row = _dip_row(name)
    assert row is not None and row.status == PackageStatus.STORED
    assert row.size == aipstore.stored_size(final)
    ((tmp, _, count),) = [(s, d, n) for s, d, n in renames if d == final]
    assert tmp.name.startswith(".tmp-") and tmp.name.endswith(name)
    entries = {
        Path(d, n).relative_to(final) for d, dirs, files in os.walk(final) for n in dirs + files
    }
    synced_before = {p.relative_to(tmp) for p in synced[:count] if p.is_relative_to(tmp)}
    assert entries | {Path(".")} == synced_before
    assert dip_store.resolve() in synced[count:]  # the store folder after the rename
    assert (final / f"METS.{uuid}.xml").is_file()
    assert [p for p in aipstore.leftovers(dip_store) if name in p.name] == []

    # Storing again (a resumed step) accepts the stored copy only while it matches.
    source = tmp_path / "DIP"
    shutil.copytree(final, source)
    sip, location = load_sip(uuid), package.resolve_location(None, LocationPurpose.DIP_STORAGE)
    assert package.store_dip(sip, source, location).status == PackageStatus.STORED
    victim = next(p for p in sorted((final / "objects").rglob("*")) if p.is_file())
    victim.write_bytes(b"changed in the store")
    with pytest.raises(
        StorageError, match=f"does not match this DIP: objects/{victim.name} differs from the DIP"
    ):
        package.store_dip(sip, source, location)
