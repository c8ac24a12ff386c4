"""The ``custos`` command: set up a home, run the service, manage users and locations.

Every command takes ``--json``: it then prints exactly one JSON document on
stdout (messages go to stderr) so scripts can parse it. Every expected failure
(bad settings, missing home, unreachable database, port in use ...) is one line
on stderr and a non-zero exit code, never a traceback.

Other modules add command groups (``custos.cli_accounts`` adds the commands of
``user`` and ``apikey``): ``custos.cli_transfer``, ``custos.cli_capture``
and ``custos.cli_aip`` are mounted when they exist and expose ``app``; they may
use ``cli_errors``, ``emit`` and ``JsonOption`` from here.

Example::

    custos init && custos serve --port 8000
    custos apikey create --user alice --json
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import col, select

from custos.errors import ConfigError, CustosError, InvalidInput, StorageError
from custos.models import Job, Location, LocationPurpose, Unit
from custos.settings import Settings, load_settings

app = typer.Typer(name="custos", help="Custos digital-preservation processor.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
apikey_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
location_app = typer.Typer(help="Manage storage locations.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(location_app, name="location")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

PURPOSES = {
    "transfer-source": LocationPurpose.TRANSFER_SOURCE,
    "processing": LocationPurpose.CURRENTLY_PROCESSING,
    "aip-store": LocationPurpose.AIP_STORAGE,
    "dip-store": LocationPurpose.DIP_STORAGE,
    "backlog": LocationPurpose.BACKLOG,
}
PURPOSE_NAMES = {v: k for k, v in PURPOSES.items()}


@contextmanager
def cli_errors(json_mode: bool = False) -> Iterator[None]:
    """Turn expected failures into one stderr line and exit code 1."""
    try:
        yield
    except CustosError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if json_mode:
            sys.stdout.write(json.dumps({"error": type(exc).__name__, "message": message})
                             + "\n")
        err.print(f"error: {message}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from exc


def emit(json_mode: bool, data: Any, render: Any = None) -> None:
    """Print ``data`` as JSON, or ``render`` (a rich renderable or text) for people."""
    if json_mode:
        sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
    elif render is not None:
        out.print(render)


def _settings(**overrides: Any) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def _open_db(settings: Settings, *, must_exist: bool = True) -> Engine:
    """The migrated database of the home (a missing home is an error)."""
    from custos.db import get_engine, migrate
    from custos.runtime.preflight import check_home

    if must_exist:
        check_home(settings.home)
    engine = get_engine(settings.db_url)
    migrate(engine)
    return engine


def _location_dict(loc: Location) -> dict[str, Any]:
    return {"uuid": loc.uuid, "purpose": PURPOSE_NAMES.get(loc.purpose, str(loc.purpose)),
            "code": str(loc.purpose), "path": loc.path, "description": loc.description,
            "default": loc.is_default, "watched": loc.watched}


def _locations_table(locations: list[Location]) -> Table:
    table = Table("purpose", "path", "default", "uuid", title="Locations")
    for loc in locations:
        table.add_row(PURPOSE_NAMES.get(loc.purpose, str(loc.purpose)), loc.path,
                      "yes" if loc.is_default else "", loc.uuid)
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
        raise StorageError(f"cannot seed processing configurations in {target}: "
                           f"{exc.strerror or exc}") from exc
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
            raise StorageError(f"cannot create home folder {home}: "
                               f"{exc.strerror or exc}") from exc
        engine = _open_db(settings)
        created = ensure_default_locations(settings, engine)
        seeded = seed_processing_configs(settings)
        locations = list_locations(engine=engine)
        data = {"home": str(home), "database": safe_url(settings.db_url),
                "locations_created": len(created),
                "locations": [_location_dict(loc) for loc in locations],
                "processing_configs_seeded": seeded}
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
        lines = [f"API            {info.api_url}", f"API docs       {info.docs_url}",
                 f"Prefect        {info.dashboard_url}", f"home           {info.home}",
                 f"flows served   {', '.join(info.served)}"]
        if info.admin_key:
            lines += ["", f"admin API key  {info.admin_key}",
                      "(shown once: store it now; send it as 'Authorization: Bearer <key>')"]
        out.print(Panel("\n".join(lines), title="Custos is running", subtitle="Ctrl-C stops"))

    with cli_errors(json_out):
        settings = _settings(host=host, port=port)
        code = run_serve(settings, ready, lambda m: err.print(m, markup=False))
    if code:
        raise typer.Exit(code)


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
        raise InvalidInput(f"unknown purpose {value!r}: use one of "
                           f"{', '.join(PURPOSES)}") from exc


@location_app.command("add")
def location_add(
    purpose: Annotated[str, typer.Argument(help="transfer-source, processing, aip-store, "
                                           "dip-store or backlog (or TS, CP, AS, DS, BL).")],
    path: Annotated[Path, typer.Argument(help="An existing folder.")],
    description: Annotated[str, typer.Option(help="Shown in listings.")] = "",
    default: Annotated[bool, typer.Option("--default", help="Make it the default "
                                          "for its purpose.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Register an existing folder as a storage location."""
    with cli_errors(json_out):
        from custos.storage import add_location

        engine = _open_db(_settings())
        loc = add_location(_purpose(purpose), path, description, default=default,
                           engine=engine)
        emit(json_out, _location_dict(loc), f"added location {loc.uuid} at {loc.path}")


@app.command()
def status(unit_uuid: str, json_out: JsonOption = False) -> None:
    """Show a transfer's, SIP's or capture's status and its jobs."""
    with cli_errors(json_out):
        from custos.db import session_scope
        from custos.errors import NotFound

        engine = _open_db(_settings())
        with session_scope(engine) as s:
            unit = s.get(Unit, unit_uuid)
            if unit is None:
                raise NotFound(f"unit {unit_uuid} does not exist")
            jobs = list(s.exec(select(Job).where(col(Job.unit_uuid) == unit_uuid)
                               .order_by(col(Job.seq))).all())
        data = {"uuid": unit.uuid, "type": str(unit.unit_type), "name": unit.name,
                "status": str(unit.status), "flow_run_id": unit.flow_run_id,
                "error": unit.error,
                "jobs": [{"uuid": j.uuid, "microservice": j.microservice, "name": j.name,
                          "status": str(j.status), "created_at": j.created_at,
                          "ended_at": j.ended_at} for j in jobs]}
        table = Table("microservice", "job", "status", title=f"{unit.unit_type} {unit.name} "
                      f"{unit.uuid}: {unit.status}")
        for j in jobs:
            table.add_row(j.microservice, j.name, str(j.status))
        emit(json_out, data, table)


def main() -> None:
    """Entry point of the ``custos`` script."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    try:
        app()
    except ConfigError as exc:  # settings that fail before a command runs
        err.print(f"error: {exc}", markup=False)
        raise SystemExit(1) from exc


for _module_name in ("custos.cli_transfer", "custos.cli_capture", "custos.cli_aip",
                     "custos.cli_accounts"):
    try:
        _module = importlib.import_module(_module_name)
    except ModuleNotFoundError as _exc:
        if _exc.name == _module_name:
            continue
        raise
    _sub = getattr(_module, "app", None)
    if isinstance(_sub, typer.Typer):
        _name = _sub.info.name if isinstance(_sub.info.name, str) else None
        app.add_typer(_sub, name=_name or _module_name.rsplit("_", 1)[1])

# Decisions concern every unit type (transfers, SIPs, captures), so they are also
# top-level commands: `custos decisions` and `custos decide JOB_UUID CHOICE`.
try:
    from custos.cli_transfer import decide as _decide
    from custos.cli_transfer import list_decisions as _list_decisions
except ImportError:  # pragma: no cover - the transfer CLI ships with the package
    pass
else:
    app.command("decisions")(_list_decisions)
    app.command("decide")(_decide)


if __name__ == "__main__":
    main()
