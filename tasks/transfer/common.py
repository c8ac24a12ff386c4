"""What every transfer microservice shares: the unit context, decisions, file rows.

Each microservice is one Prefect task over the whole unit that takes only the
unit's UUID (cheap to hash and to log), builds a ``TransferContext`` from the
database, skips every job already COMPLETE for the unit (a resumed flow goes
straight to where it stopped) and returns ``CONTINUE``, ``WAIT`` (a decision
is pending: the flow ends, the unit shows USER_INPUT) or ``STOP`` (the unit left
the transfer stage: rejected, backlogged).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from custos import decisions
from custos.db import session_scope
from custos.errors import NotFound
from custos.models import File, FileUse, Job, JobStatus, Unit
from custos.processing import ProcessingConfig, choice_value, link_for, load_named, read_file
from custos.recorder import Recorder
from custos.settings import Settings, get_settings
from custos.storage import processing_directory

CONTINUE, WAIT, STOP = "continue", "wait", "stop"
CONFIG_FILE = "processingMCP.xml"
_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")

_recorder: Recorder | None = None


class AwaitingDecision(Exception):  # noqa: N818 - a control signal, not an error
    """Raised inside a microservice when a decision was asked; the flow ends."""


class UnitStopped(Exception):  # noqa: N818 - a control signal, not an error
    """Raised when the unit left the transfer stage (rejected, sent to backlog)."""


def recorder() -> Recorder:
    """One Recorder per process (it caches agent ids)."""
    global _recorder
    if _recorder is None or _recorder.engine.url != _engine_url():
        _recorder = Recorder()
    return _recorder


def _engine_url() -> Any:
    from custos.db import get_engine

    return get_engine().url


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text the database can store: bytes that are not UTF-8 become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def from_display(text: str) -> bytes:
    """The raw bytes of a ``display_path`` (a literal ``\\xNN`` in a name is ambiguous)."""
    if "\\x" not in text:
        return text.encode("utf-8")
    out = bytearray()
    for i, part in enumerate(_ESCAPE.split(text)):
        out += bytes([int(part, 16)]) if i % 2 else part.encode("utf-8")
    return bytes(out)


@dataclass
class TransferContext:
    """A transfer unit as the microservices see it."""

    unit: Unit
    recorder: Recorder
    settings: Settings
    done: set[str] = field(default_factory=set)
    done_pairs: set[tuple[str, str]] = field(default_factory=set)
    _config: ProcessingConfig | None = None
    _directory: tuple[str | None, Path] | None = None

    @property
    def uuid(self) -> str:
        return self.unit.uuid

    @property
    def directory(self) -> Path:
        """The transfer's folder: always inside the processing location (never the cwd).

        The guard (``processing_directory``: a database query and a ``realpath``)
        runs once per context and again whenever ``unit.current_path`` changes;
        ``disk_path`` is called once per file, so it must not run there each time.
        """
        current = self.unit.current_path
        if self._directory is None or self._directory[0] != current:
            self._directory = (current, processing_directory(current, self.recorder.engine))
        return self._directory[1]

    @property
    def config(self) -> ProcessingConfig:
        """The transfer's own processingMCP.xml when present, else its named configuration."""
        if self._config is None:
            own = self.directory / CONFIG_FILE
            self._config = (read_file(own) if own.is_file()
                            else load_named(self.unit.processing_config))
        return self._config

    def todo(self, name: str) -> bool:
        """True when the job ``name`` has not completed yet for this unit."""
        return name not in self.done

    def record(self, group: str, name: str, output: str | None = None,
               link_uuid: str | None = None) -> None:
        """Record a job that is done when written (moves, renames, no-ops), once per group."""
        if (group, name) not in self.done_pairs:
            self.recorder.record_job(self.uuid, group, name, link_uuid, output=output)
            self.done.add(name)
            self.done_pairs.add((group, name))

    def set_variables(self, **values: Any) -> None:
        """Merge values into the unit's variables (JSON), persisted at once."""
        merged = dict(self.unit.variables or {})
        merged.update(values)
        with session_scope(self.recorder.engine) as s:
            s.execute(update(Unit).where(col(Unit.uuid) == self.uuid).values(variables=merged))
        self.unit.variables = merged

    def files(self, *, uses: Iterable[str] | None = None,
              paths: Iterable[str] | None = None) -> list[File]:
        """The transfer's present (not removed) File rows, by path.

        ``paths`` narrows to those current paths (one row without loading 10,000).
        """
        with session_scope(self.recorder.engine) as s:
            q = select(File).where(col(File.unit_uuid) == self.uuid,
                                   col(File.removed).is_(False))
            if uses is not None:
                q = q.where(col(File.use).in_(list(uses)))
            if paths is not None:
                q = q.where(col(File.current_path).in_(list(paths)))
            return list(s.exec(q.order_by(col(File.current_path))).all())

    def current_paths(self) -> set[str]:
        """The current paths of the transfer's present File rows (one column, no ORM rows)."""
        with session_scope(self.recorder.engine) as s:
            return set(s.exec(select(col(File.current_path))
                              .where(col(File.unit_uuid) == self.uuid,
                                     col(File.removed).is_(False))).all())

    def disk_path(self, row: File) -> Path:
        """Where a File row's bytes are now (undoing ``display_path``'s escapes)."""
        return self.directory / os.fsdecode(from_display(row.current_path))

    def decide(self, field_name: str, microservice: str, name: str,
               labels: dict[Any, str], link_uuid: str | None = None) -> Any:
        """Answer a decision: a given answer, else the configuration, else ask and stop."""
        link = link_for(field_name, link_uuid)
        given = decisions.answered(self.uuid, name, self.recorder.engine)
        if given is not None:
            return choice_value(link, given)
        value = getattr(self.config, field_name)
        if value is not None:
            self.record(microservice, name, output=f"preconfigured: {labels.get(value, value)}",
                        link_uuid=link.uuid)
            return value
        choices = [decisions.Choice(chain, labels.get(value, str(value)))
                   for value, chain in link.choices.items()]
        decisions.ask(self.recorder, self.uuid, microservice=microservice, name=name,
                      choices=choices, link_uuid=link.uuid)
        raise AwaitingDecision(name)


YES_NO = {True: "Yes", False: "No"}


def load_context(unit_uuid: str) -> TransferContext:
    """Build the context of a transfer unit (with its completed job names)."""
    rec = recorder()
    with session_scope(rec.engine) as s:
        unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"transfer {unit_uuid} does not exist")
        pairs = {(str(m), str(n)) for m, n in s.exec(
            select(col(Job.microservice), col(Job.name))
            .where(col(Job.unit_uuid) == unit_uuid, col(Job.status) == JobStatus.COMPLETE))}
    return TransferContext(unit=unit, recorder=rec, settings=get_settings(),
                           done={n for _, n in pairs}, done_pairs=pairs)


def file_use(relpath: str) -> str:
    """The File use of a path relative to the transfer root."""
    if relpath.startswith("metadata/submissionDocumentation/"):
        return FileUse.SUBMISSION_DOCUMENTATION
    if relpath.startswith("metadata/"):
        return FileUse.METADATA
    return FileUse.ORIGINAL


def microservice(fn: Callable[[TransferContext], None]) -> Callable[[str], str]:
    """Adapt ``fn(ctx)`` to ``step(unit_uuid) -> CONTINUE | WAIT | STOP``."""

    @functools.wraps(fn)
    def step(unit_uuid: str) -> str:
        ctx = load_context(unit_uuid)
        try:
            fn(ctx)
        except AwaitingDecision:
            return WAIT
        except UnitStopped:
            return STOP
        return CONTINUE

    return step
