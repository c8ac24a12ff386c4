"""The ``custos`` command: set up a home, run the service, manage users and locations.

Every command takes ``--json``: it then prints exactly one JSON document on
stdout (messages go to stderr) so scripts can parse it. Every failure (bad
settings, missing home, unreachable database, port in use, a bad argument, an
unexpected error ...) is one line on stderr and exit code 1, never a traceback
(``main``).

Command groups live in their own modules: ``cli.transfer`` (``transfer``,
and the top-level ``decisions`` / ``decide``), ``cli.capture``
(``capture``), ``cli.aip`` (``aip``) and ``cli.accounts`` (the
commands of ``user`` and ``apikey``). Commands that start or resume work are
clients of the running ``custos serve`` (``custos.runtime.client``).

Example::

    custos init && custos serve --port 8000
    custos apikey create --user alice --json
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from sqlmodel import col, select

from cli import aip as cli_aip
from cli import capture as cli_capture
from cli import transfer as cli_transfer
from cli.common import (
    JsonOption,
    WaitOption,
    cli_errors,
    emit,
    err,
    fail_line,
    first_line,
    log_to_home,
    out,
)
from cli.common import open_db as _open_db
from cli.common import settings as _settings
from custos.errors import ConfigError, CustosError, InvalidInput, NotFound, StorageError
from custos.models import Job, Location, LocationPurpose, Package, Unit, UnitType
from custos.settings import Settings

__all__ = ["JsonOption", "_open_db", "_settings", "cli_errors", "emit", "err", "main", "out"]

app = typer.Typer(
    name="custos",
    help="Custos digital-preservation processor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
apikey_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
location_app = typer.Typer(help="Manage storage locations.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(location_app, name="location")

PURPOSES = {
    "transfer-source": LocationPurpose.TRANSFER_SOURCE,
    "processing": LocationPurpose.CURRENTLY_PROCESSING,
    "aip-store": LocationPurpose.AIP_STORAGE,
    "dip-store": LocationPurpose.DIP_STORAGE,
    "backlog": LocationPurpose.BACKLOG,
}
PURPOSE_NAMES = {v: k for k, v in PURPOSES.items()}


def _location_dict(loc: Location) -> dict[str, Any]:
    return {
        "uuid": loc.uuid,
        "purpose": PURPOSE_NAMES.get(loc.purpose, str(loc.purpose)),
        "code": str(loc.purpose),
        "path": loc.path,
        "description": loc.description,
        "default": loc.is_default,
        "watched": loc.watched,
    }


def _locations_table(locations: list[Location]) -> Table:
    table = Table("purpose", "path", "default", "uuid", title="Locations")
    for loc in locations:
        table.add_row(
            PURPOSE_NAMES.get(loc.purpose, str(loc.purpose)),
            loc.path,
            "yes" if loc.is_default else "",
            loc.uuid,
        )
    return table


def seed_processing_configs(settings: Settings) -> list[str]:
    """Copy the built-in processing configurations the home does not have yet."""
    source = settings.builtin_processing_configs_dir
    target = settings.processing_configs_dir
    copied: list[str] = []
    if not source.is_dir():
        return copied
    try:
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.xml")):
            if not (target / path.name).exists():
                shutil.copy2(path, target / path.name)
                copied.append(path.name)
    except OSError as exc:
        raise StorageError(
            f"cannot seed processing configurations in {target}: {exc.strerror or exc}"
        ) from exc
    return copied


@app.command()
def init(json_out: JsonOption = False) -> None:
    """Create the home folder, its database and the default locations."""
    with cli_errors(json_out):
        from custos.db import safe_url
        from custos.storage import ensure_default_locations, list_locations

        settings = _settings()
        home = settings.home
        try:
            for folder in (home, settings.run_dir, home / "logs"):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create home folder {home}: {exc.strerror or exc}") from exc
        engine = _open_db(settings)
        created = ensure_default_locations(settings, engine)
        seeded = seed_processing_configs(settings)
        locations = list_locations(engine=engine)
        data = {
            "home": str(home),
            "database": safe_url(settings.db_url),
            "locations_created": len(created),
            "locations": [_location_dict(loc) for loc in locations],
            "processing_configs_seeded": seeded,
        }
        if not json_out:
            out.print(f"home      {home}\ndatabase  {data['database']}")
            out.print(_locations_table(locations))
            if seeded:
                out.print(f"processing configurations: {', '.join(seeded)}")
            out.print("next: [bold]custos serve[/bold]")
        emit(json_out, data)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="API address (CUSTOS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (CUSTOS_PORT, 8000).")] = None,
    runner: Annotated[
        bool,
        typer.Option(
            help="Run the flows here; --no-runner: workers of the custos pool run them "
            "(scaled out, needs PREFECT_API_URL)."
        ),
    ] = True,
    json_out: JsonOption = False,
) -> None:
    """Run the Prefect server, the flow runner and the API until Ctrl-C."""
    from custos.runtime.serve import ServeInfo
    from custos.runtime.serve import serve as run_serve

    def ready(info: ServeInfo) -> None:
        if json_out:
            emit(True, info.__dict__)
            sys.stdout.flush()
            return
        lines = [
            f"API            {info.api_url}",
            f"API docs       {info.docs_url}",
            f"Prefect        {info.dashboard_url}",
            f"home           {info.home}",
            f"flows served   {', '.join(info.served)}",
        ]
        if info.admin_key:
            lines += [
                "",
                f"admin API key  {info.admin_key}",
                "(shown once: store it now; send it as 'Authorization: Bearer <key>')",
            ]
        out.print(Panel("\n".join(lines), title="Custos is running", subtitle="Ctrl-C stops"))

    with cli_errors(json_out):
        settings = _settings(host=host, port=port)
        code = run_serve(settings, ready, lambda m: err.print(m, markup=False), runner=runner)
    if code:
        raise typer.Exit(code)


@app.command()
def resume(
    unit_uuid: Annotated[str, typer.Argument(help="A FAILED transfer or SIP.")],
    wait: WaitOption = False,
    json_out: JsonOption = False,
) -> None:
    """Run a failed transfer or SIP again from the step that failed (after its cause,
    such as a full disk, is fixed)."""
    from cli.follow import follow
    from custos.db import session_scope
    from custos.resume import check_resumable, resume_unit
    from custos.runtime.client import work_backend

    with cli_errors(json_out):
        conf = _settings()
        _open_db(conf)
        with session_scope() as s:
            check_resumable(s.get(Unit, unit_uuid), unit_uuid)  # refusals before a serve
        with work_backend(conf, wait=wait, action="resume the unit") as mode:
            run_id = resume_unit(unit_uuid)
            if wait:
                units = follow(unit_uuid, mode, quiet=json_out).units
                line = ", ".join(f"{k}: {v.get('status')}" for k, v in units.items())
                emit(json_out, units, line)
                return
        emit(json_out, {"uuid": unit_uuid, "flow_run_id": run_id}, f"resumed {unit_uuid}")


@app.command()
def deploy(
    file: Annotated[
        Path | None,
        typer.Option(help="The deployments (default: deployments/prefect.yaml of the project)."),
    ] = None,
) -> None:
    """Create the custos work pool and its deployments on the Prefect server (scaled out).

    Schedules and flow limits come from the settings. Needs PREFECT_API_URL and
    CUSTOS_PROJECT_DIR (where Custos is installed on every worker machine).
    """
    from custos.runtime.env import external_prefect_url, quiet_prefect
    from custos.runtime.pool import POOL, default_yaml, deploy_pool, ensure_pool

    with cli_errors(False):
        settings = _settings()
        if external_prefect_url() is None:
            raise ConfigError("custos deploy needs PREFECT_API_URL (the Prefect server)")
        quiet_prefect()
        created = ensure_pool()
        names = deploy_pool(settings, file or default_yaml())
        pool = f"{POOL} (created)" if created else POOL
        out.print(f"work pool {pool}; deployments: {', '.join(names)}")


@app.command()
def worker(
    name: Annotated[
        str | None, typer.Option(help="Worker name (default: custos-<host name>).")
    ] = None,
) -> None:
    """Run a Prefect worker of the custos work pool on this machine (scaled out).

    Applies CUSTOS_FLOW_LIMITS to the pool's deployments, then runs `prefect worker
    start --limit CUSTOS_FLOW_RUN_LIMIT` until Ctrl-C. Needs PREFECT_API_URL.
    """
    from custos.runtime.env import external_prefect_url, quiet_prefect
    from custos.runtime.pool import apply_flow_limits, worker_argv

    with cli_errors(False):
        settings = _settings()
        if external_prefect_url() is None:
            raise ConfigError("custos worker needs PREFECT_API_URL (the Prefect server)")
        quiet_prefect()
        applied = apply_flow_limits(settings)
        limits = ", ".join(f"{k} {v}" for k, v in applied.items() if v) or "none"
        err.print(f"flow limits: {limits}; flow runs at once here: {settings.flow_run_limit}")
        argv = worker_argv(settings, name)
    sys.stdout.flush()
    os.execv(argv[0], argv)


@location_app.command("list")
def location_list(
    purpose: Annotated[str | None, typer.Option(help="Only this purpose.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List storage locations."""
    with cli_errors(json_out):
        from custos.storage import list_locations

        engine = _open_db(_settings())
        locations = list_locations(_purpose(purpose) if purpose else None, engine=engine)
        emit(json_out, [_location_dict(loc) for loc in locations], _locations_table(locations))


def _purpose(value: str) -> LocationPurpose:
    if value in PURPOSES:
        return PURPOSES[value]
    try:
        return LocationPurpose(value.upper())
    except ValueError as exc:
        raise InvalidInput(f"unknown purpose {value!r}: use one of {', '.join(PURPOSES)}") from exc


@location_app.command("add")
def location_add(
    purpose: Annotated[
        str,
        typer.Argument(
            help="transfer-source, processing, aip-store, "
            "dip-store or backlog (or TS, CP, AS, DS, BL)."
        ),
    ],
    path: Annotated[Path, typer.Argument(help="An existing folder.")],
    description: Annotated[str, typer.Option(help="Shown in listings.")] = "",
    default: Annotated[
        bool, typer.Option("--default", help="Make it the default for its purpose.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Register an existing folder as a storage location."""
    with cli_errors(json_out):
        from custos.storage import add_location

        engine = _open_db(_settings())
        loc = add_location(_purpose(purpose), path, description, default=default, engine=engine)
        emit(json_out, _location_dict(loc), f"added location {loc.uuid} at {loc.path}")


def status_data(unit_uuid: str) -> dict[str, Any]:
    """A unit's status, jobs and what it became: a transfer's SIP, a SIP's transfer
    and AIP, a capture's AIP; the decisions it waits for."""
    from cli.follow import waiting_decisions
    from custos.db import session_scope
    from custos.models import Capture

    with session_scope() as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"unit {unit_uuid} does not exist")
        jobs = list(
            s.exec(select(Job).where(col(Job.unit_uuid) == unit_uuid).order_by(col(Job.seq)))
        )
        data: dict[str, Any] = {
            "uuid": unit.uuid,
            "type": str(unit.unit_type),
            "name": unit.name,
            "status": str(unit.status),
            "flow_run_id": unit.flow_run_id,
            "error": unit.error,
        }
        if unit.unit_type == UnitType.TRANSFER:
            data["sip_uuid"] = unit.sip_uuid
        if unit.unit_type == UnitType.SIP:
            data["transfer_uuid"] = unit.transfer_uuid
            aip = s.get(Package, unit.uuid)  # an AIP keeps its SIP's UUID
            data["aip"] = (
                None
                if aip is None or aip.package_type != "AIP"
                else {
                    "uuid": aip.uuid,
                    "status": str(aip.status),
                    "path": aip.path,
                    "size": aip.size,
                    "stored_at": aip.stored_at,
                }
            )
        if unit.unit_type == UnitType.CAPTURE:
            capture = s.get(Capture, unit.uuid)
            data["aip_uuid"] = capture.aip_uuid if capture is not None else None
        data["jobs"] = [
            {
                "uuid": j.uuid,
                "microservice": j.microservice,
                "name": j.name,
                "status": str(j.status),
                "created_at": j.created_at,
                "ended_at": j.ended_at,
            }
            for j in jobs
        ]
    data["decisions"] = waiting_decisions(unit_uuid)
    return data


def _status_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    if data.get("sip_uuid"):
        lines.append(f"SIP       {data['sip_uuid']}")
    if data.get("transfer_uuid"):
        lines.append(f"transfer  {data['transfer_uuid']}")
    if "aip" in data:
        aip = data["aip"]
        lines.append(
            f"AIP       {aip['uuid']} ({aip['status']}, {aip['path']})"
            if aip
            else "AIP       not stored yet"
        )
    if data.get("aip_uuid"):
        lines.append(f"AIP       {data['aip_uuid']}")
    if data.get("error"):
        lines.append(f"error     {data['error']}")
    for d in data["decisions"]:
        choices = ", ".join(f"{c['id']} ({c['label']})" for c in d["choices"])
        lines.append(
            f"waiting   {d['decision']}: custos decide {d['job_uuid']} CHOICE; choices: {choices}"
        )
    return lines


@app.command()
def status(
    unit_uuid: Annotated[str, typer.Argument(help="A transfer's, SIP's or capture's UUID.")],
    json_out: JsonOption = False,
) -> None:
    """Show a unit's status and jobs, a transfer's SIP, a SIP's AIP, its decisions."""
    with cli_errors(json_out):
        _open_db(_settings())
        data = status_data(unit_uuid)
    if json_out:
        emit(True, data)
        return
    table = Table(
        "microservice",
        "job",
        "status",
        title=f"{data['type']} {data['name']} {data['uuid']}: {data['status']}",
    )
    for j in data["jobs"]:
        table.add_row(j["microservice"], j["name"], j["status"])
    out.print(table)
    for line in _status_lines(data):
        out.print(line, markup=False, soft_wrap=True)


app.add_typer(cli_transfer.app, name="transfer")
app.add_typer(cli_capture.app, name="capture")
app.add_typer(cli_aip.app, name="aip")
# Decisions concern every unit type (transfers, SIPs, captures), so they are also
# top-level commands: `custos decisions` and `custos decide JOB_UUID CHOICE`.
app.command("decisions")(cli_transfer.list_decisions)
app.command("decide")(cli_transfer.decide)
# the commands of `user` and `apikey` (the module imports user_app and apikey_app)
from cli import accounts as cli_accounts  # noqa: E402, F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``custos`` script: one line on stderr and exit code 1 for
    every failure, whatever raised it (usage errors included); 130 on Ctrl-C."""
    command = typer.main.get_command(app)
    log_to_home()
    try:
        code = command.main(args=argv, prog_name="custos", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted", markup=False)
        code = 130
    except CustosError as exc:  # settings that fail before a command runs
        fail_line(first_line(exc))
        code = 1
    except Exception as exc:
        code = _failed(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _failed(exc: Exception) -> int:
    """One line for what escaped a command: click's usage errors (typer vendors click,
    so they are recognised by shape) and defects; returns the exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # `custos transfer`: its help
        exc.show()  # type: ignore[attr-defined]
        return 2
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
        ctx = getattr(exc, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        fail_line(_one_line(exc.format_message()) + where)
        return 1
    fail_line(f"unexpected {type(exc).__name__}: {first_line(exc)}{_logged(exc)}")
    return 1


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " ".join(lines) if lines else "invalid command line"


def _logged(exc: Exception) -> str:
    """Write the traceback of an unexpected error to ``<home>/logs/cli.log``."""
    import traceback

    try:
        log = _settings().home / "logs" / "cli.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write("".join(traceback.format_exception(exc)))
    except (CustosError, OSError):
        return ""
    return f" (details in {log})"


if __name__ == "__main__":
    main()
