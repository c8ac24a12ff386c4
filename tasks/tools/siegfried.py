"""Format identification with Siegfried (embedded through pygfried).

Archivematica's *Identify file format* runs Siegfried per file and records a
*format identification* event (``program="Siegfried"; version="1.11.9"``,
outcome ``Positive``, note = the PUID). pygfried embeds Siegfried and its PRONOM
signatures, so identification runs offline, in-process, at well under a
millisecond per file; one batch call covers a whole transfer.

Example::

    report = identify_files(paths)
    for item in report.results:
        item.puid, item.format_name, item.mime, item.premis_outcome, item.note
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from custos.errors import ToolFailed

UNKNOWN = "UNKNOWN"
Profile = Literal["default", "archivematica"]


@dataclass(frozen=True)
class FormatMatch:
    """One Siegfried match: PRONOM id, name, version, MIME, and why it matched."""

    puid: str
    format_name: str
    version: str
    mime: str
    basis: str
    warning: str
    namespace: str = "pronom"


@dataclass(frozen=True)
class Identification:
    """Identification of one file (``matches`` may hold several namespaces)."""

    path: Path
    size: int
    matches: tuple[FormatMatch, ...]
    error: str | None = None

    @property
    def best(self) -> FormatMatch | None:
        """The first real match (Siegfried orders them), or None when unidentified."""
        for match in self.matches:
            if match.puid and match.puid != UNKNOWN:
                return match
        return None

    @property
    def puid(self) -> str | None:
        """The PRONOM id, e.g. ``fmt/43``, or None."""
        return self.best.puid if self.best else None

    @property
    def format_name(self) -> str | None:
        """PRONOM format name, e.g. ``JPEG File Interchange Format``."""
        return self.best.format_name if self.best else None

    @property
    def format_version(self) -> str | None:
        """PRONOM format version (``1.02``) or None when PRONOM has none."""
        return (self.best.version or None) if self.best else None

    @property
    def mime(self) -> str | None:
        """MIME type from PRONOM, or None."""
        return (self.best.mime or None) if self.best else None

    @property
    def warning(self) -> str | None:
        """Siegfried's warning (e.g. extension mismatch), if any."""
        warnings = [m.warning for m in self.matches if m.warning]
        return "; ".join(warnings) or None

    @property
    def premis_outcome(self) -> str:
        """``Positive`` when identified, else ``Not identified`` (Archivematica's words)."""
        return "Positive" if self.best else "Not identified"

    @property
    def note(self) -> str:
        """eventOutcomeDetailNote: the PUID, or why nothing matched."""
        if self.best:
            return self.best.puid
        return self.error or "No Matching Format"


@dataclass
class IdentifyReport:
    """All identifications of one run plus the tool and signature versions."""

    tool_version: str
    signatures: str
    results: list[Identification] = field(default_factory=list)

    @property
    def event_detail(self) -> str:
        """``program="Siegfried"; version="1.11.9"`` (signatures are in ``signatures``)."""
        return f'program="Siegfried"; version="{self.tool_version}"'

    def by_path(self) -> dict[Path, Identification]:
        """Results keyed by the path that was asked for."""
        return {r.path: r for r in self.results}


def _pygfried() -> ModuleType:
    """pygfried, imported on first use: it starts Go's runtime and its threads, which
    a process forked afterwards would not have (the flow-run processes are forked
    from a process that imported the flows: ``custos.runtime.warm``)."""
    import pygfried

    return pygfried


def _scanner(profile: Profile | None) -> Any:
    return _pygfried().Scanner(profile=profile) if profile else None


def _utf8_ok(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def identify_files(
    paths: Iterable[str | Path],
    *,
    workers: int = 2,
    profile: Profile | None = None,
) -> IdentifyReport:
    """Identify many files in one Siegfried call; results are in input order.

    ``profile`` selects a bundled Siegfried profile (``"default"`` or
    ``"archivematica"``); None uses pygfried's default. Names that are not valid
    UTF-8 (which Siegfried cannot take) are identified through a temporary
    symlink carrying the same extension. Unreadable files get ``error`` set.
    """
    targets = [Path(p) for p in paths]
    with tempfile.TemporaryDirectory(prefix="custos-sf-") as tmp:
        names: list[str] = []
        for index, target in enumerate(targets):
            name = str(target.absolute())
            if not _utf8_ok(name):
                suffix = target.suffix if _utf8_ok(target.suffix) else ""
                alias = Path(tmp) / f"{index}{suffix}"
                alias.symlink_to(target.absolute())
                name = str(alias)
            names.append(name)
        pygfried = _pygfried()
        try:
            scanner = _scanner(profile)
            raw: Any = (
                scanner.identify_many(names, workers=workers)
                if scanner is not None
                else pygfried.identify_many(names, workers=workers)
            )
        except (pygfried.GoError, ValueError, TypeError) as exc:
            raise ToolFailed("siegfried", None, str(exc)) from exc
    return _report(raw, targets, names)


def _report(raw: dict[str, Any], targets: Sequence[Path], names: Sequence[str]) -> IdentifyReport:
    identifiers = raw.get("identifiers") or [{}]
    report = IdentifyReport(
        tool_version=str(raw.get("siegfried", _pygfried().version())),
        signatures=str(identifiers[0].get("details", "")),
    )
    by_name = {f["filename"]: f for f in raw.get("files", [])}
    for target, name in zip(targets, names, strict=True):
        entry = by_name.get(name)
        if entry is None:
            report.results.append(Identification(target, 0, (), "not reported by Siegfried"))
            continue
        matches = tuple(
            FormatMatch(
                puid=m.get("id", ""),
                format_name=m.get("format", ""),
                version=m.get("version", ""),
                mime=m.get("mime", ""),
                basis=m.get("basis", ""),
                warning=m.get("warning", ""),
                namespace=m.get("ns", "pronom"),
            )
            for m in entry.get("matches", [])
        )
        error = entry.get("errors") or None
        report.results.append(Identification(target, int(entry.get("filesize", 0)), matches, error))
    return report


def identify_file(path: str | Path, *, profile: Profile | None = None) -> Identification:
    """Identify a single file (convenience wrapper over :func:`identify_files`)."""
    return identify_files([path], workers=1, profile=profile).results[0]


def siegfried_version() -> str:
    """The embedded Siegfried version, e.g. ``1.11.9``."""
    return str(_pygfried().version())
