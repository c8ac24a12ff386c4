"""What every ingest step shares: the SIP, the recorder, the jobs done, the processing
configuration, and the decision helper.

Each step is one Prefect task over the whole SIP that takes only the SIP's UUID,
builds an :class:`IngestContext`, skips jobs already COMPLETE (a resumed flow goes
straight to where it stopped) and returns ``CONTINUE``, ``WAIT`` (a decision is
pending: the flow ends, the unit shows USER_INPUT) or ``STOP`` (rejected).

*Approve normalization* → *Redo* starts a new normalization round: the unit's
``normalization_redo_seq`` variable holds the job sequence number where it began,
and jobs of the *Normalize* group (and answers to its decisions) older than that no
longer count as done, so the same job names run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import col, select

from custos import decisions
from custos.db import session_scope
from custos.models import Decision, Job, JobStatus, Unit
from custos.processing import ProcessingConfig
from custos.recorder import Recorder

from .options import load_config
from .sip import Sip, load_sip

CONTINUE, WAIT, STOP = "continue", "wait", "stop"
NORMALIZE_GROUP = "Normalize"
T = TypeVar("T")


@dataclass
class IngestContext:
    """One step's view of the SIP."""

    sip: Sip
    recorder: Recorder
    done: set[str]
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
        config = load_config(sip.path, sip.processing_config,
                             dict(variables.get("ingest_options") or {}))
        redo_seq = int(variables.get("normalization_redo_seq") or 0)
        done = rec.completed_jobs(unit_uuid)
        if redo_seq:
            done = _done_since_redo(rec, unit_uuid, done, redo_seq)
        return cls(sip, rec, done, config, variables.get("reingest"), redo_seq)

    def record(self, group: str, name: str, output: str | None = None) -> None:
        """A job that is done the moment it is written (once per unit)."""
        if name not in self.done:
            self.recorder.record_job(self.sip.uuid, group, name, output=output)
            self.done.add(name)

    def decide(self, group: str, name: str, link: str, preset: T | None,
               choices: dict[str, T], labels: dict[str, str]) -> T | None:
        """The answer to a decision: preconfigured, given earlier, or asked now (None).

        ``choices`` maps choice ids to their meaning, ``labels`` choice ids to what
        the user reads.
        """
        if preset is not None:
            self.record(group, name, output=f"preconfigured: {preset}")
            return preset
        given = (self._answered_since_redo(name) if group == NORMALIZE_GROUP and self.redo_seq
                 else decisions.answered(self.sip.uuid, name, self.recorder.engine))
        if given is not None and given in choices:
            return choices[given]
        decisions.ask(self.recorder, self.sip.uuid, microservice=group, name=name,
                      link_uuid=link,
                      choices=[decisions.Choice(c, labels.get(c, c)) for c in choices])
        return None

    def _answered_since_redo(self, name: str) -> str | None:
        """The answer to a Normalize decision asked in the current round, if any."""
        with session_scope(self.recorder.engine) as s:
            row = s.exec(select(Decision).join(Job, col(Job.uuid) == col(Decision.job_uuid))
                         .where(col(Decision.unit_uuid) == self.sip.uuid,
                                col(Decision.name) == name,
                                col(Decision.choice).is_not(None),
                                col(Job.seq) > self.redo_seq)
                         .order_by(col(Job.seq).desc())).first()
            return row.choice if row else None


def _done_since_redo(rec: Recorder, unit_uuid: str, done: set[str], redo_seq: int) -> set[str]:
    """Completed job names, counting Normalize-group jobs only from the redo on."""
    with session_scope(rec.engine) as s:
        rows = s.exec(select(Job.name, Job.microservice, Job.seq)
                      .where(col(Job.unit_uuid) == unit_uuid,
                             col(Job.status) == JobStatus.COMPLETE)).all()
    stale = {name for name, group, _ in rows if group == NORMALIZE_GROUP}
    fresh = {name for name, group, seq in rows if group == NORMALIZE_GROUP and seq > redo_seq}
    return (done - stale) | fresh
