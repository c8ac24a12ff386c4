"""`custos decisions` and `custos decide` work at the top level for any unit."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli.main import app
from custos.db import session_scope
from custos.decisions import Choice, ask
from custos.models import Decision, Unit, UnitType
from custos.recorder import Recorder
from tests.support.recording import RecordingBackend


def test_top_level_decisions_list_and_answer(recorded_runs: RecordingBackend) -> None:
    with session_scope() as s:
        unit = Unit(unit_type=UnitType.SIP, name="waiting-sip")
        s.add(unit)
        s.flush()
        unit_uuid = unit.uuid
    decision = ask(
        Recorder(),
        unit_uuid,
        microservice="Store AIP",
        name="Store AIP",
        choices=[Choice("yes", "Yes"), Choice("reject", "Reject AIP")],
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["decisions", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [r for r in json.loads(listed.stdout) if r["unit_uuid"] == unit_uuid]
    assert rows and rows[0]["job_uuid"] == decision.job_uuid
    assert {c["id"] for c in rows[0]["choices"]} == {"yes", "reject"}

    bad = runner.invoke(app, ["decide", decision.job_uuid, "maybe", "--json"])
    assert bad.exit_code != 0
    # Answer by label; the resubmitted flow is recorded, not run (the SIP has no files).
    ok = runner.invoke(app, ["decide", decision.job_uuid, "Reject AIP", "--json"])
    assert ok.exit_code == 0, ok.output
    assert recorded_runs.submitted == [("ingest", {"unit_uuid": unit_uuid})]
    with session_scope() as s:
        row = s.get(Decision, decision.uuid)
        assert row is not None and row.choice == "reject" and row.answered_by == "cli"
