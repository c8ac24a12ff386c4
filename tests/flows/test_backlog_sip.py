"""A SIP made later from a transfer sent to the backlog (``custos.backlog``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from custos.backlog import create_sip_from_backlog
from custos.db import session_scope
from custos.errors import Conflict
from custos.models import File, Unit, UnitStatus, UnitType
from custos.transfers import start_transfer
from flows.transfer import run_transfer

from .conftest import make_sample


def test_a_backlogged_transfer_becomes_a_sip(tmp_path, dispatched):
    from custos.processing import load_named, save

    save("tobacklog2", load_named("automated").model_copy(update={"create_sip": "backlog"}))
    uuid = start_transfer("later", make_sample(tmp_path / "s"), processing_config="tobacklog2")
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.sip_uuid == "BACKLOG"
        backlogged = Path(unit.current_path or "")

    assert create_sip_from_backlog(uuid, by="tester") == uuid
    assert dispatched.submitted[-1] == ("transfer", {"unit_uuid": uuid})
    assert not backlogged.exists()
    with pytest.raises(Conflict):  # a second click
        create_sip_from_backlog(uuid)

    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.sip_uuid not in (None, "BACKLOG")
        sip = s.get(Unit, unit.sip_uuid)
        assert sip is not None and sip.unit_type == UnitType.SIP
        files = s.exec(select(File).where(col(File.sip_uuid) == sip.uuid)).all()
        assert any(f.current_path.endswith("notes.txt") for f in files)
    assert dispatched.submitted[-1] == ("ingest", {"unit_uuid": sip.uuid})
    assert (Path(sip.current_path or "") / "objects").is_dir()
