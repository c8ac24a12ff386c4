"""``custos aip``: list, verify, audit and reingest stored AIPs.

Runs against the same database as the server. ``audit`` and ``verify`` work now, in
this process (they record their ``fixity check`` events like the scheduled audit);
``reingest`` starts a reingest and, with ``--wait``, runs it inline to the end or
to its first decision.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import col, select

from custos.cli import JsonOption, cli_errors, emit
from custos.db import session_scope
from custos.models import Package

app = typer.Typer(name="aip", help="Stored AIPs: list, verify, audit, reingest.",
                  no_args_is_help=True)


def _package_dict(p: Package) -> dict[str, Any]:
    return {"uuid": p.uuid, "name": p.name, "type": p.package_type, "status": p.status,
            "location": p.location_uuid, "path": p.path, "size": p.size,
            "checksum": p.checksum, "compression": p.compression, "stored_at": p.stored_at,
            "last_fixity_at": p.last_fixity_at, "last_fixity_outcome": p.last_fixity_outcome}


@app.command("list")
def list_aips(json_out: JsonOption = False) -> None:
    """List stored packages (AIPs and DIPs)."""
    with cli_errors(json_out), session_scope() as s:
        rows = [_package_dict(p) for p in s.exec(select(Package)
                                                 .order_by(col(Package.created_at)))]
    table = Table("uuid", "type", "name", "status", "size", "last fixity")
    for r in rows:
        table.add_row(r["uuid"], r["type"], r["name"], str(r["status"]), str(r["size"]),
                      str(r["last_fixity_outcome"] or "-"))
    emit(json_out, rows, table)


@app.command("verify")
def verify(uuid: str, json_out: JsonOption = False) -> None:
    """Verify one stored AIP now (exit code 1 when it fails)."""
    from flows.audit import audit_package

    with cli_errors(json_out):
        result = audit_package(uuid)
    emit(json_out, {"uuid": result.uuid, "outcome": result.outcome,
                    "problems": list(result.problems)},
         f"{result.uuid}: {result.outcome}" + "".join(f"\n  {p}" for p in result.problems))
    if result.outcome != "pass":
        raise typer.Exit(1)


@app.command("audit")
def audit(json_out: JsonOption = False) -> None:
    """Run the fixity audit over every stored AIP now."""
    from flows.audit import audit_package, stored_aips

    with cli_errors(json_out):
        results = [audit_package(uuid) for uuid in stored_aips()]
    failed = [r for r in results if r.outcome != "pass"]
    emit(json_out, [{"uuid": r.uuid, "outcome": r.outcome, "problems": list(r.problems)}
                    for r in results],
         f"{len(results)} AIPs audited, {len(failed)} failed"
         + "".join(f"\n  {r.uuid}: {'; '.join(r.problems)}" for r in failed))
    if failed:
        raise typer.Exit(1)


@app.command("reingest")
def reingest(uuid: str,
             reingest_type: Annotated[str, typer.Option("--type")] = "metadata",
             json_out: JsonOption = False) -> None:
    """Start a metadata or partial reingest of a stored AIP."""
    from custos.reingest import start_reingest

    with cli_errors(json_out):
        unit = start_reingest(uuid, reingest_type)  # type: ignore[arg-type]
    emit(json_out, {"reingest_uuid": unit, "type": reingest_type},
         f"reingest of {uuid} started ({reingest_type})")
