"""MediaConch policy checks (Archivematica's *policy checks*, *validation* events).

The policies are data: ``custos/data/policies/policies.yaml`` says which policy
file checks which files (by extension) for each kind of check (``originals``,
``preservation``, ``access``). A check records, like Archivematica's
``policy_check.py``, a *validation* event with ``program="MediaConch";
version="..."``, outcome ``pass`` or ``fail`` and the note
``MediaConch policy check result against policy file <file>: <policy name>``
(failing rules named).

Example::

    for policy in policies_for("preservation", "objects/clip-<uuid>.mkv"):
        result = check(path, policy)
        result.outcome, result.note
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from custos.errors import ConfigError, ToolFailed
from custos.programs import event_detail, run, tool_version, which
from custos.recorder import JobHandle
from custos.settings import PACKAGE_DATA

POLICY_DIR = PACKAGE_DATA / "policies"
#: The folder of a unit's ``logs/`` that holds the reports (Archivematica's name).
POLICY_REPORTS = "policyChecks"
KINDS = ("originals", "preservation", "access")
_MC = "https://mediaarea.net/mediaconch"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class Policy:
    """One policy file and the extensions it checks."""

    file: Path
    name: str
    extensions: frozenset[str]


@dataclass(frozen=True)
class PolicyResult:
    """One file checked against one policy."""

    policy: Policy
    outcome: str  # pass | fail
    version: str | None
    failed_rules: tuple[str, ...] = ()
    report: str = ""

    @property
    def event_detail(self) -> str:
        """``program="MediaConch"; version="23.03"``."""
        return event_detail("MediaConch", self.version)

    @property
    def note(self) -> str:
        """Archivematica's eventOutcomeDetailNote, naming the policy file and policy."""
        head = f"MediaConch policy check result against policy file {self.policy.file.name}"
        if self.outcome == "pass":
            return f"{head}: All policy checks passed: {self.policy.name}"
        return f"{head}: failed rules: {'; '.join(self.failed_rules)} ({self.policy.name})"


def _policy(file_name: str, extensions: list[str]) -> Policy:
    path = POLICY_DIR / file_name
    try:
        root = etree.parse(str(path), _PARSER).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(f"MediaConch policy {file_name} cannot be read: {exc}") from exc
    return Policy(path, root.get("name") or path.stem, frozenset(e.lower() for e in extensions))


@cache
def load_policies() -> dict[str, tuple[Policy, ...]]:
    """Every kind's policies from ``policies.yaml``."""
    index = POLICY_DIR / "policies.yaml"
    try:
        data: dict[str, Any] = yaml.safe_load(index.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {index.name}: {exc}") from exc
    unknown = set(data) - set(KINDS)
    if unknown:
        raise ConfigError(f"{index.name}: unknown kinds {sorted(unknown)}; use {KINDS}")
    return {
        kind: tuple(_policy(e["policy"], list(e.get("extensions", []))) for e in data.get(kind, []))
        for kind in KINDS
    }


def policies_for(kind: str, path: str) -> list[Policy]:
    """The policies of ``kind`` that check the file at ``path`` (by extension)."""
    suffix = Path(path).suffix.lstrip(".").lower()
    return [p for p in load_policies()[kind] if suffix in p.extensions]


def installed() -> bool:
    """Whether MediaConch can be run."""
    return which("mediaconch") is not None


def check(path: Path, policy: Policy, *, timeout: float = 300.0) -> PolicyResult:
    """Check one file against one policy.

    Raises:
        ToolFailed: MediaConch is missing, fails, or its report cannot be read.
    """
    version = tool_version("mediaconch")
    argv = ["mediaconch", "-mc", "-fx", "-p", str(policy.file), str(path.absolute())]
    result = run(argv, timeout=timeout)
    try:
        root = etree.fromstring(result.stdout.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        tail = (result.stderr or result.stdout).strip()[-300:]
        raise ToolFailed("mediaconch", result.returncode, f"no report: {exc}; {tail}") from exc
    top = root.find(f"{{{_MC}}}media/{{{_MC}}}policy")
    if top is None:
        raise ToolFailed("mediaconch", result.returncode, "the report names no policy outcome")
    outcome = "pass" if top.get("outcome") == "pass" else "fail"
    failed = tuple(
        r.get("name", "")
        for r in top.iter(f"{{{_MC}}}rule")
        if r.get("outcome") == "fail" and _counts(r)
    )
    return PolicyResult(policy, outcome, version, failed, result.stdout)


def _keep(policy: Policy, folder: Path) -> None:
    target = folder / policy.file.name
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(policy.file, target)


def save_report(result: PolicyResult, folder: Path, file_name: str) -> Path:
    """MediaConch's report for one file, where Archivematica's ``policy_check.py`` puts
    it: ``<folder>/<policy file name without extension>/<file name>.xml`` (``folder``
    is the unit's ``logs/policyChecks``)."""
    target = folder / result.policy.file.stem / f"{file_name}.xml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(result.report, encoding="utf-8")
    return target


def _counts(rule: etree._Element) -> bool:
    """A failed rule counts unless an ``or`` policy above it passed anyway."""
    parent = rule.getparent()
    while parent is not None and parent.tag == f"{{{_MC}}}policy":
        if parent.get("type") == "or" and parent.get("outcome") == "pass":
            return False
        parent = parent.getparent()
    return True


def record_checks(
    job: JobHandle,
    kind: str,
    items: list[tuple[Any, Path]],
    keep_policies: Path | None = None,
    keep_reports: Path | None = None,
) -> tuple[int, int]:
    """Check ``(File row, path on disk)`` pairs against the ``kind``'s policies.

    Each check is a task and a *validation* event on the file; returns (checks run,
    checks failed). A policy that fails is a result, recorded, not an error. Each
    policy used is copied into ``keep_policies`` (Archivematica keeps them in the
    submission documentation's ``policies/``), unless one of that name is there.
    Each report is written under ``keep_reports`` (:func:`save_report`; Archivematica
    keeps those of originals and preservation derivatives in ``logs/policyChecks/``).

    Raises:
        ToolFailed: MediaConch is not installed while a policy applies.
    """
    ran = failed = 0
    for row, path in items:
        for policy in policies_for(kind, row.current_path):
            if not installed():
                raise ToolFailed("mediaconch", 127, "policy checks need MediaConch (mediaconch)")
            result = check(path, policy)
            if keep_policies is not None:
                _keep(policy, keep_policies)
            if keep_reports is not None:
                save_report(result, keep_reports, path.name)
            ran += 1
            failed += result.outcome != "pass"
            job.task(
                file_uuid=row.uuid,
                file_name=row.current_path,
                arguments=f"mediaconch -mc -fx -p {policy.file.name}",
                exit_code=0 if result.outcome == "pass" else 1,
                stdout=result.note,
            )
            job.event(
                file_uuid=row.uuid,
                event_type="validation",
                detail=result.event_detail,
                outcome=result.outcome,
                outcome_note=result.note,
            )
    return ran, failed
