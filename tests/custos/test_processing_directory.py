"""A unit's working directory can never be the cwd or lie outside processing.

Regression: a transfer whose path was empty once resolved to the process's working
directory, and the compliance steps restructured it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from custos.errors import StorageError
from custos.models import LocationPurpose
from custos.storage import default_location, processing_directory


def test_empty_or_stray_paths_are_refused(custos_home: Path, tmp_path: Path) -> None:
    root = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    for bad in (None, "", ".", str(root), str(tmp_path), "../aip-store", os.getcwd()):
        with pytest.raises(StorageError):
            processing_directory(bad)
    inside = root / "unit-1"
    assert processing_directory(str(inside)) == inside
    assert processing_directory("unit-2") == root / "unit-2"


def test_transfer_step_on_unit_without_path_fails_and_leaves_cwd_alone(
    custos_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custos.db import session_scope
    from custos.models import Unit, UnitType
    from custos.recorder import Recorder
    from tasks.transfer.common import TransferContext

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".hidden").write_text("keep me")
    (tmp_path / "file.txt").write_text("keep me too")
    with session_scope() as s:
        unit = Unit(unit_type=UnitType.TRANSFER, name="no-path", current_path=None)
        s.add(unit)
        s.flush()
        s.expunge(unit)
    ctx = TransferContext.__new__(TransferContext)
    object.__setattr__(ctx, "unit", unit)
    object.__setattr__(ctx, "recorder", Recorder())
    with pytest.raises(StorageError):
        _ = ctx.directory
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "file.txt"]
