"""User-supplied paths stay inside their location."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from custos.errors import InvalidInput, NotFound
from custos.models import LocationPurpose
from custos.storage import (
    decode_location_path,
    default_location,
    resolve_inside,
    source_path,
)


def test_resolve_inside_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "link").symlink_to(tmp_path / "secret")
    assert resolve_inside(root, "a") == (root / "a").resolve()
    for bad in ("../secret", "/etc", "a/../../secret", "link"):
        with pytest.raises(InvalidInput):
            resolve_inside(root, bad)


def test_decode_archivematica_location_path() -> None:
    loc = "6fa3c6a1-1b3a-4d2a-9a3e-6f8e4c9a2b10"
    encoded = base64.b64encode(f"{loc}:transfers/one".encode()).decode()
    assert decode_location_path(encoded) == (loc, "transfers/one")
    assert decode_location_path(base64.b64encode(b"plain/path").decode()) == (None, "plain/path")
    with pytest.raises(InvalidInput):
        decode_location_path("")


def test_source_path_in_default_location(custos_home: Path) -> None:
    ts = default_location(LocationPurpose.TRANSFER_SOURCE)
    (Path(ts.path) / "box").mkdir(exist_ok=True)
    loc, path = source_path(base64.b64encode(f"{ts.uuid}:box".encode()).decode())
    assert loc.uuid == ts.uuid and path == (Path(ts.path) / "box").resolve()
    with pytest.raises(NotFound):
        source_path(base64.b64encode(f"{ts.uuid}:missing".encode()).decode())
    with pytest.raises(InvalidInput):
        source_path(base64.b64encode(f"{ts.uuid}:../aip-store".encode()).decode())
