"""``custos transfer ...``: start, approve and answer decisions from the shell.

``start PATH`` copies a local folder or package into processing and starts the
``transfer`` flow; ``--wait`` runs it inline in this process (no server needed),
shows a progress bar per microservice, and returns when the unit stops (and,
when a SIP was created, when its ingest stops). ``--json`` prints
Archivematica's status object(s) instead.

Example::

    custos transfer start ./photos --config automated --wait --json
    custos transfer decisions
    custos transfer decide <job uuid> <choice id>
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import CustosError, NotFound
from custos.models import Job, Unit, UnitStatus
from custos.recorder import Recorder

app = typer.Typer(name="transfer", help="Start transfers and answer their decisions.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
#: Microservice groups of the transfer flow, for the progress bar's total.
TRANSFER_GROUPS = 11


def _fail(exc: CustosError, json_mode: bool) -> typer.Exit:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if json_mode:
        sys.stdout.write(json.dumps({"error": type(exc).__name__, "message": message}) + "\n")
    err.print(f"error: {message}", markup=False, soft_wrap=True)
    return typer.Exit(1)


def unit_status(unit_uuid: str) -> dict[str, Any]:
    """Archivematica's status object of a transfer or SIP."""
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
    info = Recorder().status_info(unit_uuid)
    kind = "SIP" if unit.unit_type == "SIP" else "transfer"
    path = unit.current_path or ""
    data: dict[str, Any] = {
        "status": str(info.status) if info else str(unit.status),
        "name": unit.name, "uuid": unit.uuid, "type": kind,
        "microservice": info.microservice if info else "",
        "directory": Path(path).name, "path": path.rstrip("/") + "/",
        "message": f"Fetched status for {unit.uuid} successfully.",
    }
    if info and info.sip_uuid:
        data["sip_uuid"] = info.sip_uuid
    if unit.error:
        data["error"] = unit.error
    return data


def _groups_done(unit_uuid: str) -> tuple[int, str]:
    with session_scope() as s:
        rows = s.exec(select(col(Job.microservice)).where(col(Job.unit_uuid) == unit_uuid)
                      .order_by(col(Job.seq))).all()
    groups = list(dict.fromkeys(rows))
    return len(groups), groups[-1] if groups else "starting"


def _busy(unit_uuid: str) -> bool:
    from custos import dispatch

    backend = dispatch.inline_backend()
    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        run_id = unit.flow_run_id if unit else None
    return bool(run_id and backend.is_alive(run_id))


def wait_for(unit_uuid: str, label: str, *, quiet: bool, total: int = TRANSFER_GROUPS) -> None:
    """Follow a unit run by the inline backend until its flow thread ends."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=err, disable=quiet, transient=False) as bar:
        task_id = bar.add_task(label, total=total)
        while True:
            busy = _busy(unit_uuid)
            done, current = _groups_done(unit_uuid)
            bar.update(task_id, completed=min(done, total), description=f"{label}: {current}")
            if not busy:
                break
            time.sleep(0.2)


@app.command("start")
def start(
    path: Annotated[Path, typer.Argument(help="Folder, zip/tar/7z file, or bag.")],
    transfer_type: Annotated[str, typer.Option("--type", help="standard, zipfile, "
                                               "'unzipped bag' or 'zipped bag'.")] = "",
    config: Annotated[str, typer.Option("--config", help="Processing configuration.")]
    = "default",
    name: Annotated[str | None, typer.Option("--name")] = None,
    accession: Annotated[str | None, typer.Option("--accession")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Run inline and wait.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Start a transfer of PATH (a copy is processed; PATH is never modified)."""
    from custos import dispatch, processing
    from custos.transfers import start_transfer

    try:
        processing.named_path(config)  # a typo must not silently fall back
        ttype = transfer_type or _guess_type(path)
        if wait:
            dispatch.set_backend(dispatch.inline_backend())
        uuid = start_transfer(name or path.name, path, ttype, config, accession)
        if wait:
            wait_for(uuid, "transfer", quiet=json_out)
            result: dict[str, Any] = {"transfer": unit_status(uuid)}
            sip_uuid = result["transfer"].get("sip_uuid")
            if sip_uuid and sip_uuid != "BACKLOG":
                wait_for(sip_uuid, "ingest", quiet=json_out, total=20)
                result["ingest"] = unit_status(sip_uuid)
        else:
            result = {"transfer": {"uuid": uuid, "status": "PROCESSING"}}
    except CustosError as exc:
        raise _fail(exc, json_out) from exc
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        for key, data in result.items():
            out.print(f"{key} {data['uuid']}: {data['status']}"
                      + (f" ({data['error']})" if data.get("error") else ""))
    failed = {UnitStatus.FAILED, UnitStatus.REJECTED}
    if any(d.get("status") in failed for d in result.values()):
        raise typer.Exit(2)


def _guess_type(path: Path) -> str:
    from tasks.bags import is_bag
    from tasks.extract import package_kind

    if path.is_dir():
        return "unzipped bag" if is_bag(path) else "standard"
    return "zipfile" if package_kind(path) else "standard"


@app.command("approve")
def approve(unit_uuid: str, json_out: JsonOption = False) -> None:
    """Approve a transfer waiting for approval (it then runs)."""
    from custos.transfers import approve_transfer

    try:
        approve_transfer(unit_uuid)
    except CustosError as exc:
        raise _fail(exc, json_out) from exc
    if json_out:
        sys.stdout.write(json.dumps({"uuid": unit_uuid, "approved": True}) + "\n")
    else:
        out.print(f"transfer {unit_uuid} approved")


@app.command("decisions")
def list_decisions(json_out: JsonOption = False) -> None:
    """List every decision waiting for an answer, with its choices."""
    from custos import decisions

    rows = decisions.waiting()
    if json_out:
        sys.stdout.write(json.dumps(rows, default=str, indent=2) + "\n")
        return
    table = Table("job", "unit", "decision", "choices", title="Waiting decisions")
    for row in rows:
        choices = "\n".join(f"{c['id']}  {c['label']}" for c in row["choices"])
        table.add_row(row["job_uuid"], f"{row['unit_name']} ({row['unit_type']})",
                      row["decision"], choices)
    out.print(table)


@app.command("decide")
def decide(job_uuid: str, choice: str, json_out: JsonOption = False) -> None:
    """Answer the decision waiting at JOB_UUID with CHOICE (its id or label)."""
    from custos import decisions
    from custos.models import Decision

    try:
        with session_scope() as s:
            row = s.exec(select(Decision).where(col(Decision.job_uuid) == job_uuid)).first()
        if row is not None:
            by_label = {str(c["label"]).lower(): str(c["id"]) for c in row.choices}
            choice = by_label.get(choice.lower(), choice)
        decision = decisions.answer(job_uuid, choice, by="cli")
    except CustosError as exc:
        raise _fail(exc, json_out) from exc
    if json_out:
        sys.stdout.write(json.dumps({"job_uuid": job_uuid, "decision": decision.name,
                                     "choice": choice}) + "\n")
    else:
        out.print(f"{decision.name}: {choice}")
