"""Paths from Archivematica clients: ``<location uuid>:<path>`` must name a transfer
source and a path inside it; ``copy_metadata_files`` copies without following links
and writes only into the SIP's ``metadata/`` folder."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import col, delete, select

from custos.db import session_scope
from custos.models import Location, LocationPurpose, Unit, UnitType
from custos.recorder import Recorder
from custos.storage import add_location, default_location

from .am_helpers import make_unit


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unit_count() -> int:
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(Unit)).one())


@pytest.fixture()
def ts(custos_home: Path) -> Location:
    return default_location(LocationPurpose.TRANSFER_SOURCE)


@pytest.fixture()
def box(ts: Location, tmp_path: Path) -> Iterator[Path]:
    """A folder in the default transfer source, removed afterwards."""
    path = Path(ts.path) / f"box-{tmp_path.name}"
    path.mkdir()
    (path / "a.txt").write_text("a\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """A folder outside every location, with a file nobody may copy."""
    path = tmp_path / "secret"
    path.mkdir()
    (path / "passwd").write_text("root:x:0:0\n")
    return path


@pytest.fixture()
def extra_locations() -> Iterator[list[str]]:
    """Locations a test adds; deleted afterwards so later tests see the defaults only."""
    made: list[str] = []
    yield made
    with session_scope() as s:
        s.execute(delete(Location).where(col(Location.uuid).in_(made)))


def start(client: TestClient, auth: dict[str, str], *paths: str) -> tuple[int, str]:
    res = client.post(
        "/api/transfer/start_transfer/",
        headers=auth,
        data={"name": "t", "type": "standard", "paths[]": list(paths)},
    )
    return res.status_code, res.json().get("message", "")


def test_start_transfer_refuses_paths_outside_transfer_sources(
    client: TestClient,
    auth: dict[str, str],
    ts: Location,
    box: Path,
    secret: Path,
    recorded_runs: object,
) -> None:
    aip_store = default_location(LocationPurpose.AIP_STORAGE)
    (box / "out").symlink_to(secret)
    before = unit_count()
    cases = {
        f"{aip_store.uuid}:.": "is not a transfer source (its purpose is AS)",
        "0b0e3c0a-1d7c-4c8f-9a51-3c1d2e4f5a6b:x": "is not associated with this pipeline",
        f"{ts.uuid}:": "is empty",
        f"{ts.uuid}:./": "is empty",
        f"{ts.uuid}:../aip-store": "must be relative and stay inside",
        f"{ts.uuid}:{box.name}/../..": "must be relative and stay inside",
        f"{ts.uuid}:/etc": "is an absolute path outside location",
        f"{ts.uuid}:{box.name}/out": "leaves its location",
        f"{ts.uuid}:{box.name}/a\0.txt": "NUL character",
    }
    for raw, reason in cases.items():
        status, message = start(client, auth, b64(raw))
        assert status == 400, (raw, status, message)
        assert message.startswith("paths[]: ") and reason in message, (raw, message)
    status, message = start(client, auth, "%%%not base64%%%")
    assert status == 400 and message.startswith("paths[]: cannot be decoded")
    # Several paths: one bad one starts nothing, and the message says which.
    status, message = start(client, auth, b64(f"{ts.uuid}:{box.name}"), b64(f"{ts.uuid}:"))
    assert status == 400 and message.startswith("paths[] #2: ")
    assert unit_count() == before
    assert (secret / "passwd").read_text() == "root:x:0:0\n"
    # The same folder, properly named (also as the absolute path AM clients send).
    assert start(client, auth, b64(f"{ts.uuid}:{box.name}"))[0] == 200
    assert start(client, auth, b64(f"{ts.uuid}:{Path(ts.path) / box.name}"))[0] == 200
    assert unit_count() == before + 2


def test_a_location_nested_in_a_transfer_source_is_not_a_source(
    client: TestClient,
    auth: dict[str, str],
    tmp_path: Path,
    extra_locations: list[str],
    recorded_runs: object,
) -> None:
    root = tmp_path / "shared"
    (root / "dips" / "dip-1").mkdir(parents=True)
    (root / "incoming").mkdir()
    outer = add_location(LocationPurpose.TRANSFER_SOURCE, root, "shared")
    inner = add_location(LocationPurpose.DIP_STORAGE, root / "dips", "DIPs inside it")
    extra_locations += [inner.uuid, outer.uuid]
    status, message = start(client, auth, b64(f"{outer.uuid}:dips/dip-1"))
    assert status == 400 and f"lies inside location {inner.uuid} (DS)" in message
    assert start(client, auth, b64(f"{outer.uuid}:incoming"))[0] == 200


def test_package_names_the_path_input(
    client: TestClient, auth: dict[str, str], ts: Location, recorded_runs: object
) -> None:
    aip_store = default_location(LocationPurpose.AIP_STORAGE)
    before = unit_count()
    for raw, reason in (
        (f"{aip_store.uuid}:x", "is not a transfer source"),
        (f"{ts.uuid}:", "is empty"),
        (f"{ts.uuid}:{ts.path}", "is empty"),
        (f"{ts.uuid}:/", "is an absolute path outside"),
    ):
        res = client.post(
            "/api/v2beta/package",
            headers=auth,
            json={"name": "p", "path": b64(raw), "type": "standard"},
        )
        assert res.status_code == 400, res.text
        assert res.json()["error"] is True
        assert res.json()["message"].startswith("Package cannot be created: path: ")
        assert reason in res.json()["message"]
    assert unit_count() == before


# -- copy_metadata_files ------------------------------------------------------------


@pytest.fixture()
def sip(custos_home: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    sip_dir = processing / f"sip-{tmp_path.name}"
    (sip_dir / "objects").mkdir(parents=True)
    yield make_unit(UnitType.SIP, current_path=str(sip_dir)), sip_dir
    shutil.rmtree(sip_dir, ignore_errors=True)


def copy(client: TestClient, auth: dict[str, str], sip_uuid: str, *paths: str) -> tuple[int, str]:
    res = client.post(
        "/api/ingest/copy_metadata_files/",
        headers=auth,
        data={"sip_uuid": sip_uuid, "source_paths[]": list(paths)},
    )
    return res.status_code, res.json().get("message", "")


def test_copy_metadata_files_copies_files_and_folders(
    client: TestClient, auth: dict[str, str], ts: Location, box: Path, sip: tuple[str, Path]
) -> None:
    sip_uuid, sip_dir = sip
    (box / "docs" / "deep").mkdir(parents=True)
    (box / "docs" / "deep" / "b.xml").write_text("<b/>")
    os.utime(box / "a.txt", (1_000_000_000, 1_000_000_000))
    (sip_dir / "metadata").mkdir()
    (sip_dir / "metadata" / "a.txt").write_text("older\n")  # replaced
    status, message = copy(
        client,
        auth,
        sip_uuid,
        b64(f"{ts.uuid}:{box.name}/a.txt"),
        b64(f"{ts.uuid}:{Path(ts.path) / box.name / 'docs'}"),
    )
    assert (status, message) == (201, "Metadata files added successfully.")
    meta = sip_dir / "metadata"
    assert (meta / "a.txt").read_text() == "a\n"
    assert (meta / "a.txt").stat().st_mtime == 1_000_000_000
    assert (meta / "docs" / "deep" / "b.xml").read_text() == "<b/>"
    assert sorted(p.name for p in meta.iterdir()) == ["a.txt", "docs"]  # no temporary left


def test_copy_metadata_files_refuses_links_and_special_files(
    client: TestClient,
    auth: dict[str, str],
    ts: Location,
    box: Path,
    secret: Path,
    sip: tuple[str, Path],
) -> None:
    sip_uuid, sip_dir = sip
    docs = box / "docs"
    docs.mkdir()
    (docs / "ok.txt").write_text("ok\n")
    (docs / "passwd").symlink_to(secret / "passwd")
    (docs / "etc").symlink_to(secret)
    os.mkfifo(docs / "pipe")
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/docs"))
    assert status == 400
    assert message.startswith("source_paths[]: ")
    for named in (
        f"{box.name}/docs/etc: symbolic link",
        f"{box.name}/docs/passwd: symbolic link",
        f"{box.name}/docs/pipe: FIFO",
        "nothing was copied",
    ):
        assert named in message, message
    assert not any((sip_dir / "metadata").rglob("*"))  # not even ok.txt
    # A link naming a file outside the location is refused when the path is checked.
    (box / "peek").symlink_to(secret / "passwd")
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/peek"))
    assert status == 400 and "leaves its location" in message
    # Wrong purpose, empty path: the same 400s as start_transfer, naming source_paths[].
    aip_store = default_location(LocationPurpose.AIP_STORAGE)
    status, message = copy(client, auth, sip_uuid, b64(f"{aip_store.uuid}:x"))
    assert status == 400 and message.startswith("source_paths[]: location ")
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:"))
    assert status == 400 and "is empty" in message
    assert (secret / "passwd").read_text() == "root:x:0:0\n"


def test_copy_metadata_files_never_follows_a_link_planted_in_the_sip(
    client: TestClient,
    auth: dict[str, str],
    ts: Location,
    box: Path,
    secret: Path,
    sip: tuple[str, Path],
) -> None:
    sip_uuid, sip_dir = sip
    (sip_dir / "metadata").symlink_to(secret)
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/a.txt"))
    assert status == 400 and "metadata is a symbolic link" in message
    (sip_dir / "metadata").unlink()
    (sip_dir / "metadata").mkdir()
    (sip_dir / "metadata" / "a.txt").symlink_to(secret / "passwd")  # the name to write
    (box / "sub").mkdir()
    (box / "sub" / "x.txt").write_text("x\n")
    (sip_dir / "metadata" / "sub").symlink_to(secret)  # a folder to merge into
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/sub"))
    assert status == 400 and "sub is a symbolic link" in message
    assert sorted(p.name for p in secret.iterdir()) == ["passwd"]
    status, _ = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/a.txt"))
    assert status == 201  # the link at the name is replaced, not followed
    assert not (sip_dir / "metadata" / "a.txt").is_symlink()
    assert (sip_dir / "metadata" / "a.txt").read_text() == "a\n"
    assert (secret / "passwd").read_text() == "root:x:0:0\n"


def test_a_source_swapped_for_a_link_after_the_check_is_not_followed(
    client: TestClient,
    auth: dict[str, str],
    ts: Location,
    box: Path,
    secret: Path,
    sip: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The path is checked, then (as an attacker racing the copy would) a folder on
    it becomes a link out of the location before the copy starts."""
    from custos import sip_metadata, storage

    sip_uuid, sip_dir = sip
    (box / "docs").mkdir()
    (box / "docs" / "x.txt").write_text("x\n")

    def checked_then_swapped(encoded: str, **kwargs: object) -> object:
        result = storage.source_path(encoded, **kwargs)  # type: ignore[arg-type]
        shutil.rmtree(box / "docs")
        (box / "docs").symlink_to(secret)
        return result

    monkeypatch.setattr(sip_metadata, "source_path", checked_then_swapped)
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/docs"))
    assert status == 400 and f"{box.name}/docs is a symbolic link" in message
    assert not (sip_dir / "metadata" / "docs").exists()


def test_copy_metadata_files_only_while_the_metadata_is_unprocessed(
    client: TestClient, auth: dict[str, str], ts: Location, box: Path, sip: tuple[str, Path]
) -> None:
    sip_uuid, sip_dir = sip
    status, message = copy(
        client, auth, "6a8f1c2e-0000-4000-8000-000000000000", b64(f"{ts.uuid}:{box.name}/a.txt")
    )
    assert status == 404 and "does not exist" in message
    Recorder().record_job(
        sip_uuid, "Process metadata directory", "Move metadata to objects directory"
    )
    status, message = copy(client, auth, sip_uuid, b64(f"{ts.uuid}:{box.name}/a.txt"))
    assert status == 409
    assert "already processed its metadata directory" in message
    assert not (sip_dir / "metadata").exists()
