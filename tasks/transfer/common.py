"""What every transfer microservice shares: the unit context, file rows, paths.

Each microservice is one Prefect task over the whole unit that takes only the
unit's UUID (cheap to hash and to log): ``fn(ctx)`` adapted by ``microservice``
(``custos.steps.step`` with a ``TransferContext``), so it skips every job already
COMPLETE for the unit (a resumed flow goes straight to where it stopped) and
returns an ``Outcome``: CONTINUE, WAIT (a decision is pending: the flow ends, the
unit shows USER_INPUT) or STOP (the unit left the transfer stage: rejected,
backlogged). ``docs/concepts.md`` (*Writing a step*) has the whole model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from custos.db import session_scope
from custos.errors import NotFound
from custos.models import File, FileUse, Unit
from custos.processing import ProcessingConfig, load_named, read_file
from custos.recorder import Recorder
from custos.settings import Settings, get_settings
from custos.steps import AwaitingDecision, Outcome, StepContext, UnitStopped, completed, step
from custos.storage import processing_directory

__all__ = ["AwaitingDecision", "TransferContext", "UnitStopped", "load_context", "microservice"]
CONFIG_FILE = "processingMCP.xml"
_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")

_recorder: Recorder | None = None


def shared_recorder() -> Recorder:
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


@dataclass(kw_only=True)
class TransferContext(StepContext):
    """A transfer unit as the microservices see it."""

    unit: Unit
    settings: Settings
    _config: ProcessingConfig | None = None
    _directory: tuple[str | None, Path] | None = None

    @classmethod
    def load(cls, unit_uuid: str, recorder: Recorder | None = None) -> TransferContext:
        """Build the context of a transfer unit (with its completed jobs)."""
        rec = recorder or shared_recorder()
        with session_scope(rec.engine) as s:
            unit = s.get(Unit, unit_uuid)
        if unit is None:
            raise NotFound(f"transfer {unit_uuid} does not exist")
        done, pairs = completed(rec, unit_uuid)
        return cls(
            unit_uuid=unit_uuid,
            unit=unit,
            recorder=rec,
            settings=get_settings(),
            done=done,
            done_pairs=pairs,
        )

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
            self._config = (
                read_file(own) if own.is_file() else load_named(self.unit.processing_config)
            )
        return self._config

    def configured(self, field_name: str) -> Any:
        return getattr(self.config, field_name)

    def set_variables(self, **values: Any) -> None:
        """Merge values into the unit's variables (JSON), persisted at once."""
        merged = dict(self.unit.variables or {})
        merged.update(values)
        with session_scope(self.recorder.engine) as s:
            s.execute(update(Unit).where(col(Unit.uuid) == self.uuid).values(variables=merged))
        self.unit.variables = merged

    def files(
        self, *, uses: Iterable[str] | None = None, paths: Iterable[str] | None = None
    ) -> list[File]:
        """The transfer's present (not removed) File rows, by path.

        ``paths`` narrows to those current paths (one row without loading 10,000).
        """
        with session_scope(self.recorder.engine) as s:
            q = select(File).where(col(File.unit_uuid) == self.uuid, col(File.removed).is_(False))
            if uses is not None:
                q = q.where(col(File.use).in_(list(uses)))
            if paths is not None:
                q = q.where(col(File.current_path).in_(list(paths)))
            return list(s.exec(q.order_by(col(File.current_path))).all())

    def current_paths(self) -> set[str]:
        """The current paths of the transfer's present File rows (one column, no ORM rows)."""
        with session_scope(self.recorder.engine) as s:
            return set(
                s.exec(
                    select(col(File.current_path)).where(
                        col(File.unit_uuid) == self.uuid, col(File.removed).is_(False)
                    )
                ).all()
            )

    def disk_path(self, row: File) -> Path:
        """Where a File row's bytes are now (undoing ``display_path``'s escapes)."""
        return self.directory / os.fsdecode(from_display(row.current_path))


YES_NO = {True: "Yes", False: "No"}


def load_context(unit_uuid: str) -> TransferContext:
    """Build the context of a transfer unit (with its completed job names)."""
    return TransferContext.load(unit_uuid)


def file_use(relpath: str) -> str:
    """The File use of a path relative to the transfer root."""
    if relpath.startswith("metadata/submissionDocumentation/"):
        return FileUse.SUBMISSION_DOCUMENTATION
    if relpath.startswith("metadata/"):
        return FileUse.METADATA
    return FileUse.ORIGINAL


def microservice(fn: Callable[[TransferContext], None]) -> Callable[[str], Outcome]:
    """Adapt ``fn(ctx)`` to ``step(unit_uuid) -> Outcome`` over a ``TransferContext``."""
    return step(TransferContext.load)(fn)
