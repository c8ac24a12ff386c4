"""``custos transfer ...``: start, approve and answer decisions from the shell.

The command line is a client of the running service (``custos.runtime.client``):
with a ``custos serve`` for the home, ``start``, ``approve`` and ``decide`` submit
the work to its deployments, so it shows in the Prefect dashboard and goes on
when the command ends; ``--wait`` then follows it from the database (a progress
bar per unit on stderr) until the transfer, and its SIP's ingest, stop. Without a
serve, ``--wait`` runs the flows here, in this process, with no Prefect server;
without either the command says so in one line and records nothing. ``--json``
prints Archivematica's status object(s) instead, with the decisions waiting.

Example::

    custos transfer start ./photos --config automated --wait --json
    custos transfer decisions
    custos decide <job uuid> <choice id or label> --wait
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col, select

from cli.common import JsonOption, WaitOption, cli_errors, emit, open_db, out, settings
from cli.follow import Followed, follow, interrupted, report
from custos.db import session_scope
from custos.errors import ConfigError, InvalidInput, NotFound
from custos.models import Decision
from custos.runtime.client import Mode, work_backend

app = typer.Typer(
    name="transfer", help="Start transfers and answer their decisions.", no_args_is_help=True
)


def _finish(result: Followed, json_out: bool) -> None:
    """Print what ``--wait`` saw; exit code 2 when a unit failed or was rejected."""
    if json_out:
        sys.stdout.write(json.dumps(result.as_json(), default=str, indent=2) + "\n")
    else:
        for line in report(result):
            out.print(line, markup=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(2)


def _follow(unit_uuid: str, mode: Mode, json_out: bool) -> None:
    try:
        result = follow(unit_uuid, mode, quiet=json_out)
    except KeyboardInterrupt:
        raise interrupted(f"unit {unit_uuid}", mode) from None
    _finish(result, json_out)


def _served_note(mode: Mode) -> str:
    return " (running in custos serve)" if mode == Mode.SERVED else ""


@app.command("start")
def start(
    path: Annotated[Path, typer.Argument(help="Folder, zip/tar/7z file, or bag.")],
    transfer_type: Annotated[
        str,
        typer.Option(
            "--type",
            help="standard, zipfile, 'unzipped bag', 'zipped bag', dspace or dataverse.",
        ),
    ] = "",
    config: Annotated[str, typer.Option("--config", help="Processing configuration.")] = (
        "default"
    ),
    name: Annotated[str | None, typer.Option("--name")] = None,
    accession: Annotated[str | None, typer.Option("--accession")] = None,
    wait: WaitOption = False,
    json_out: JsonOption = False,
) -> None:
    """Start a transfer of PATH (its copy is processed; PATH is never modified)."""
    from custos import processing
    from custos.transfers import check_start, start_transfer

    with cli_errors(json_out):
        conf = settings()
        open_db(conf)
        processing.named_path(config)  # a typo must not silently fall back
        ttype = transfer_type or _guess_type(path)
        check_start(name or path.name, path, ttype)  # bad input first, then "no serve"
        with work_backend(conf, wait=wait, action="run the transfer") as mode:
            uuid = start_transfer(name or path.name, path, ttype, config, accession)
            if wait:
                _follow(uuid, mode, json_out)
                return
    emit(
        json_out,
        {"transfer": {"uuid": uuid, "status": "PROCESSING"}},
        f"transfer {uuid}: PROCESSING{_served_note(mode)}",
    )


def _guess_type(path: Path) -> str:
    from custos.sniff import is_bag, package_kind

    if not path.exists():
        raise NotFound(f"{path} does not exist")
    if path.is_dir():
        return "unzipped bag" if is_bag(path) else "standard"
    return "zipfile" if package_kind(path) else "standard"


@app.command("approve")
def approve(
    unit_uuid: Annotated[str, typer.Argument(help="The transfer's UUID.")],
    wait: WaitOption = False,
    json_out: JsonOption = False,
) -> None:
    """Approve a transfer waiting for approval (it then runs)."""
    from custos.transfers import approval_decision, approve_transfer

    with cli_errors(json_out):
        conf = settings()
        open_db(conf)
        if approval_decision(unit_uuid) is None:  # before asking for a serve
            approve_transfer(unit_uuid)  # raises the reason (no such transfer, not waiting)
        with work_backend(conf, wait=wait, action="run the approved transfer") as mode:
            _resumed(lambda: approve_transfer(unit_uuid, by="cli"), unit_uuid)
            if wait:
                _follow(unit_uuid, mode, json_out)
                return
    emit(
        json_out,
        {"uuid": unit_uuid, "approved": True},
        f"transfer {unit_uuid} approved{_served_note(mode)}",
    )


@app.command("decisions")
def list_decisions(json_out: JsonOption = False) -> None:
    """List every decision waiting for an answer, with its choices."""
    from custos import decisions

    with cli_errors(json_out):
        open_db(settings())
        rows = decisions.waiting()
    if json_out:
        sys.stdout.write(json.dumps(rows, default=str, indent=2) + "\n")
        return
    table = Table("job", "unit", "decision", "choices", title="Waiting decisions")
    for row in rows:
        choices = "\n".join(f"{c['id']}  {c['label']}" for c in row["choices"])
        table.add_row(
            row["job_uuid"], f"{row['unit_name']} ({row['unit_type']})", row["decision"], choices
        )
    out.print(table)


def _choice_id(job_uuid: str, choice: str) -> tuple[Decision, str]:
    """The waiting decision at ``job_uuid`` and the id of ``choice`` (an id or a label)."""
    with session_scope() as s:
        row = s.exec(select(Decision).where(col(Decision.job_uuid) == job_uuid)).first()
    if row is None:
        raise NotFound(f"no decision is waiting at job {job_uuid}")
    by_label = {str(c["label"]).lower(): str(c["id"]) for c in row.choices}
    choice_id = by_label.get(choice.lower(), choice)
    if choice_id not in {str(c["id"]) for c in row.choices}:
        labels = ", ".join(f"{c['id']} ({c['label']})" for c in row.choices)
        raise InvalidInput(f"{choice!r} is not a choice of {row.name!r}: use one of {labels}")
    return row, choice_id


def _resumed(answer: Any, unit_uuid: str) -> Any:
    """Record an answer and resubmit; a failed submission keeps the answer and says so."""
    try:
        return answer()
    except ConfigError as exc:
        raise ConfigError(
            f"the answer is recorded, but unit {unit_uuid} could not be resumed now ({exc}); "
            "custos serve resumes it when it runs"
        ) from exc


@app.command("decide")
def decide(
    job_uuid: Annotated[str, typer.Argument(help="The job waiting for the decision.")],
    choice: Annotated[str, typer.Argument(help="The choice's id or label.")],
    wait: WaitOption = False,
    json_out: JsonOption = False,
) -> None:
    """Answer the decision waiting at JOB_UUID with CHOICE (its id or label)."""
    from custos import decisions

    with cli_errors(json_out):
        conf = settings()
        open_db(conf)
        row, choice_id = _choice_id(job_uuid, choice)
        if row.choice is not None:
            decisions.answer(job_uuid, choice_id)  # raises: already answered
        with work_backend(conf, wait=wait, action="resume the unit") as mode:
            decision = _resumed(
                lambda: decisions.answer(job_uuid, choice_id, by="cli"), row.unit_uuid
            )
            if wait:
                _follow(row.unit_uuid, mode, json_out)
                return
    emit(
        json_out,
        {"job_uuid": job_uuid, "decision": decision.name, "choice": choice_id},
        f"{decision.name}: {choice_id}{_served_note(mode)}",
    )
