"""A full filesystem (ENOSPC) in the AIP store or the processing location.

Small tmpfs filesystems mounted by the test (tests run as root) stand for a full
disk: the copy fails with a message naming the location and the space needed,
nothing partial stays behind, and once space is freed (the tmpfs grown with a
remount) ``resume_unit`` finishes the unit.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col

from custos import dispatch
from custos.db import session_scope
from custos.errors import StorageError
from custos.models import Location, Package, PackageStatus, Unit, UnitStatus
from custos.resume import resume_unit
from custos.storage import LocationPurpose, default_location
from tasks import space
from tasks.aipstore import store_aip


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """``path`` as a tmpfs of ``size`` for the duration."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def grow(path: Path, size: str) -> None:
    """Free space: the tmpfs at ``path`` made larger, its files kept."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def test_store_fills_the_disk_mid_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The early check skipped: the copy itself meets ENOSPC, and leaves nothing."""
    source = tmp_path / "aip.7z"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    with tmpfs(tmp_path / "store", "1m") as store:
        monkeypatch.setattr(space, "require_space", lambda *_a: None)
        with pytest.raises(StorageError) as failed:
            store_aip(source, store)
        text = str(failed.value)
        assert f"not enough space in the AIP store ({store})" in text
        assert f"{3 * 1024 * 1024:,} bytes needed" in text
        assert list(store.iterdir()) == []  # no partial AIP, no staging file
        monkeypatch.undo()
        grow(store, "8m")
        stored = store_aip(source, store)
        assert stored.path.read_bytes() == source.read_bytes()


def test_copy_into_a_full_processing_location(tmp_path: Path) -> None:
    from tasks.transfer.move_to_processing import copy_in, staging_path

    src = tmp_path / "src"
    src.mkdir()
    for index in range(3):
        (src / f"f{index}.bin").write_bytes(os.urandom(512 * 1024))
    with tmpfs(tmp_path / "processing", "1m") as processing:
        dest = processing / "t-1234"
        with pytest.raises(StorageError) as failed:
            copy_in(src, dest)
        assert f"not enough space in the processing location ({processing})" in str(failed.value)
        assert f"{3 * 512 * 1024:,} bytes needed" in str(failed.value)
        assert not dest.exists() and not staging_path(dest).exists()
        grow(processing, "8m")
        copy_in(src, dest)
        assert sorted(p.name for p in dest.iterdir()) == ["f0.bin", "f1.bin", "f2.bin"]


def _wait(unit_uuid: str, until: set[UnitStatus], timeout: float = 300) -> Unit:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert dispatch.inline_backend().wait_all(timeout)
        with session_scope() as s:
            unit = s.get(Unit, unit_uuid)
            if unit is not None and unit.status in until:
                return unit
        time.sleep(0.2)
    raise AssertionError(f"unit {unit_uuid} did not reach {until}")


def test_full_aip_store_fails_the_sip_and_resume_finishes_it(
    client: TestClient, auth: dict[str, str], tmp_path: Path
) -> None:
    from flows.audit import audit_package

    os.chdir(tmp_path)  # inline flows run in this process: never in the checkout
    loc = default_location(LocationPurpose.TRANSFER_SOURCE)
    folder = Path(loc.path) / "full-store"
    folder.mkdir()
    (folder / "big.bin").write_bytes(os.urandom(2 * 1024 * 1024))  # does not compress
    (folder / "readme.txt").write_text("a transfer for a full disk\n")
    store_loc = default_location(LocationPurpose.AIP_STORAGE)
    with tmpfs(tmp_path / "aipstore", "1m") as store:
        with session_scope() as s:
            s.execute(
                update(Location).where(col(Location.uuid) == store_loc.uuid).values(path=str(store))
            )
        try:
            body = {
                "name": "full-store",
                "path": base64.b64encode(f"{loc.uuid}:full-store".encode()).decode(),
                "type": "standard",
                "processing_config": "automated",
            }
            res = client.post(
                "/api/v2beta/package/", content=json.dumps(body).encode(), headers=auth
            )
            assert res.status_code == 202, res.text
            transfer = _wait(res.json()["id"], {UnitStatus.COMPLETE, UnitStatus.FAILED})
            assert transfer.status == UnitStatus.COMPLETE, transfer.error
            assert transfer.sip_uuid
            sip = _wait(transfer.sip_uuid, {UnitStatus.COMPLETE, UnitStatus.FAILED})
            assert sip.status == UnitStatus.FAILED
            assert sip.error and f"not enough space in the AIP store ({store})" in sip.error
            assert "bytes needed" in sip.error
            assert list(store.iterdir()) == []  # no partial AIP
            ingest = client.get(f"/api/ingest/status/{sip.uuid}/", headers=auth).json()
            assert ingest["status"] == "FAILED"

            grow(store, "64m")
            resume_unit(sip.uuid)
            done = _wait(sip.uuid, {UnitStatus.COMPLETE, UnitStatus.FAILED})
            assert done.status == UnitStatus.COMPLETE, done.error
            with session_scope() as s:
                pkg = s.get(Package, sip.uuid)
                assert pkg is not None and pkg.status == PackageStatus.STORED
            assert [p.name for p in store.iterdir()] == [Path(pkg.path).name]
            assert audit_package(sip.uuid).outcome == "pass"
        finally:
            with session_scope() as s:
                s.execute(
                    update(Location)
                    .where(col(Location.uuid) == store_loc.uuid)
                    .values(path=store_loc.path)
                )
                # the AIP goes with the tmpfs: no later audit may look for it
                s.execute(
                    update(Package)
                    .where(col(Package.location_uuid) == store_loc.uuid)
                    .where(col(Package.path).contains("full-store"))
                    .values(status=PackageStatus.DELETED)
                )


def test_resume_refuses_what_it_cannot_resume(custos_home: Path) -> None:
    from custos.errors import Conflict, NotFound
    from tests.api.am_helpers import make_unit

    with pytest.raises(NotFound, match="does not exist"):
        resume_unit("00000000-0000-4000-8000-000000000000")
    running = make_unit(name="still-running")
    with pytest.raises(Conflict, match="not FAILED: nothing to resume"):
        resume_unit(running)
