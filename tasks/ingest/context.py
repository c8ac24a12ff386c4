"""What every ingest step shares: the SIP, its processing configuration, its jobs.

Each step is one Prefect task over the whole SIP that takes only the SIP's UUID:
``fn(ctx)`` adapted by ``ingest_step`` (``custos.steps.step`` with an
:class:`IngestContext`), so it skips jobs already COMPLETE (a resumed flow goes
straight to where it stopped) and returns an ``Outcome``: CONTINUE, WAIT (a
decision is pending: the flow ends, the unit shows USER_INPUT) or STOP (rejected).
``docs/concepts.md`` (*Writing a step*) has the whole model.

*Approve normalization* → *Redo* starts a new normalization round: the unit's
``normalization_redo_seq`` variable holds the job sequence number where it began,
and jobs of the *Normalize* group (and answers to its decisions) older than that no
longer count as done, so the same job names run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from custos.db import session_scope
from custos.models import Decision, Job, Unit
from custos.processing import ProcessingConfig
from custos.recorder import Recorder
from custos.steps import Outcome, StepContext, completed, step

from .options import load_config
from .sip import Sip, load_sip

NORMALIZE_GROUP = "Normalize"


@dataclass(kw_only=True)
class IngestContext(StepContext):
    """One step's view of the SIP."""

    sip: Sip
    config: ProcessingConfig
    reingest: str | None = None
    redo_seq: int = 0

    @classmethod
    def load(cls, unit_uuid: str, recorder: Recorder | None = None) -> IngestContext:
        rec = recorder or Recorder()
        sip = load_sip(unit_uuid, rec.engine)
        with session_scope(rec.engine) as s:
            unit = s.get(Unit, unit_uuid)
            variables = dict(unit.variables or {}) if unit else {}
        config = load_config(
            sip.path, sip.processing_config, dict(variables.get("ingest_options") or {})
        )
        redo_seq = int(variables.get("normalization_redo_seq") or 0)
        since = {NORMALIZE_GROUP: redo_seq} if redo_seq else None
        done, pairs = completed(rec, unit_uuid, since=since)
        return cls(
            unit_uuid=unit_uuid,
            recorder=rec,
            done=done,
            done_pairs=pairs,
            sip=sip,
            config=config,
            reingest=variables.get("reingest"),
            redo_seq=redo_seq,
        )

    def configured(self, field_name: str) -> Any:
        return getattr(self.config, field_name)

    def answered(self, group: str, name: str) -> str | None:
        """A Normalize answer counts only when given in the current round."""
        if group == NORMALIZE_GROUP and self.redo_seq:
            return self._answered_since_redo(name)
        return super().answered(group, name)

    def _answered_since_redo(self, name: str) -> str | None:
        with session_scope(self.recorder.engine) as s:
            row = s.exec(
                select(Decision)
                .join(Job, col(Job.uuid) == col(Decision.job_uuid))
                .where(
                    col(Decision.unit_uuid) == self.sip.uuid,
                    col(Decision.name) == name,
                    col(Decision.choice).is_not(None),
                    col(Job.seq) > self.redo_seq,
                )
                .order_by(col(Job.seq).desc())
            ).first()
            return row.choice if row else None


def ingest_step(fn: Callable[[IngestContext], None]) -> Callable[[str], Outcome]:
    """Adapt ``fn(ctx)`` to ``step(unit_uuid) -> Outcome`` over an ``IngestContext``."""
    return step(IngestContext.load)(fn)
