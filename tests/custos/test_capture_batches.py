"""Starting the captures of one submission (``custos.capture_batches``): one ``capture``
run for one, one ``capture-batch`` run recorded on every unit for several, and no run
recorded on any when the submission fails (the reconciler then starts each)."""

from __future__ import annotations

from typing import Any

import pytest

from custos import dispatch
from custos.accounts import create_user
from custos.capture_batches import start_captures
from custos.captures import create_capture
from custos.db import session_scope
from custos.errors import ConfigError
from custos.models import Unit
from tests.support.recording import RecordingBackend


class Refusing:
    """A ``custos.dispatch`` backend whose every submission fails."""

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        raise ConfigError(f"cannot start {flow_name}: no server")


def _runs(uuids: list[str]) -> list[str | None]:
    with session_scope() as s:
        units = [s.get(Unit, uuid) for uuid in uuids]
    return [u.flow_run_id if u is not None else "missing" for u in units]


def test_one_capture_one_run_several_one_batch_run(recorded_runs: RecordingBackend) -> None:
    user = create_user("batch-starter", role="capture")
    made = [create_capture(f"http://batch.test/{n}", user, submit=False).uuid for n in range(4)]
    assert start_captures([]) is None and recorded_runs.submitted == []

    assert start_captures(made[:1]) == "recorded-1"
    assert recorded_runs.submitted == [("capture", {"unit_uuid": made[0]})]
    assert _runs(made[:1]) == ["recorded-1"]

    assert start_captures(made[1:] + made[1:2]) == "recorded-2"  # each unit once
    assert recorded_runs.submitted[1] == ("capture-batch", {"unit_uuids": made[1:]})
    assert _runs(made) == ["recorded-1"] + ["recorded-2"] * 3


def test_a_failed_batch_submission_leaves_every_unit_without_a_run(custos_home: Any) -> None:
    user = create_user("batch-refused", role="capture")
    made = [create_capture(f"http://refused.test/{n}", user, submit=False).uuid for n in range(3)]
    dispatch.set_backend(Refusing())
    try:
        with pytest.raises(ConfigError, match="capture-batch"):
            start_captures(made)
    finally:
        dispatch.set_backend(None)
    assert _runs(made) == [None, None, None]
