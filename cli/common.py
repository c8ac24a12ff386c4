"""What every ``custos`` command shares: settings, the database, output and errors.

Every command takes ``--json``: it then prints exactly one JSON document on stdout
(messages and progress go to stderr) so scripts can parse it. Every expected
failure is one line on stderr (``error: ...``) and exit code 1, inside
``cli_errors``; ``custos.cli.main`` turns whatever escapes a command (usage
errors, unexpected exceptions) into the same one line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import Engine

from custos.errors import CustosError
from custos.settings import Settings, load_settings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Follow the work until it stops (without a running `custos serve`, run it "
        "here, in this command).",
    ),
]


def first_line(exc: BaseException) -> str:
    """An exception as one line of text (its type when it has no message)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def fail_line(message: str, *, json_mode: bool = False, kind: str = "Error") -> None:
    """Print the one-line error (and its JSON document in --json mode)."""
    if json_mode:
        sys.stdout.write(json.dumps({"error": kind, "message": message}) + "\n")
    err.print(f"error: {message}", markup=False, soft_wrap=True)


@contextmanager
def cli_errors(json_mode: bool = False) -> Iterator[None]:
    """Turn expected failures into one stderr line and exit code 1."""
    try:
        yield
    except CustosError as exc:
        fail_line(first_line(exc), json_mode=json_mode, kind=type(exc).__name__)
        raise typer.Exit(1) from exc


def emit(json_mode: bool, data: Any, render: Any = None) -> None:
    """Print ``data`` as JSON, or ``render`` (a rich renderable or text) for people."""
    if json_mode:
        sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")
    elif render is not None:
        out.print(render)


def settings(**overrides: Any) -> Settings:
    """The settings, with the command's options (those given) winning."""
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


#: Loggers of the work a command may run in its own process (flows, steps, core).
WORK_LOGGERS = ("custos", "tasks", "flows")


class _HomeLog(logging.FileHandler):
    """``<home>/logs/cli.log``, created on the first record; a record that cannot be
    written is dropped (a command must never fail, or print, because of its log)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # logging's name
        pass


def log_to_home() -> None:
    """Send the log records of work run in this command to ``<home>/logs/cli.log``
    instead of the terminal, where they would tear the progress bars apart (Prefect's
    logging set-up prints every warning of every logger on stderr)."""
    try:
        path = settings().home / "logs" / "cli.log"
    except CustosError:
        return  # bad settings: the command will say so
    handler = _HomeLog(path, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in WORK_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def open_db(conf: Settings, *, must_exist: bool = True) -> Engine:
    """The migrated database of the home (a missing home is an error)."""
    from custos.db import get_engine, migrate
    from custos.runtime.preflight import check_home

    if must_exist:
        check_home(conf.home)
    engine = get_engine(conf.db_url)
    migrate(engine)
    return engine
