"""Validate BagIt bags (transfers that arrive as bags, and our own AIPs).

bagit-python's ``Bag.validate()`` stops at the first kind of problem (a
Payload-Oxum mismatch hides every checksum failure) and reports through an
exception. Preservation needs the whole picture and a per-file outcome for the
*fixity check* events, so we let bagit-python parse the bag (declaration,
bag-info, manifests, tag manifests, unsafe paths) and do the checks ourselves:
structure, fetch.txt, Payload-Oxum, completeness both ways, and every manifest
and tag-manifest digest, reading each file once for all algorithms.

Example::

    report = validate_bag(path)
    if not report.valid:
        raise InvalidInput("bag is invalid", details=[p.message for p in report.problems])
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import bagit

from custos.errors import FixityMismatch
from custos.programs import event_detail

from .fixity import ALGORITHMS, hash_files
from .walk import TreeProblem, walk_files


@dataclass(frozen=True)
class BagFileCheck:
    """One manifest entry checked: ``pass``, ``fail`` or ``missing``."""

    path: str  # relative to the bag root, e.g. "data/objects/a.txt"
    algorithm: str
    expected: str
    found: str | None
    outcome: str
    tag_file: bool = False

    @property
    def passed(self) -> bool:
        """True when the file exists and matches its manifest digest."""
        return self.outcome == "pass"

    def as_error(self) -> FixityMismatch:
        """The failure as an exception, for callers that stop at the first one."""
        return FixityMismatch(self.path, self.algorithm, self.expected, self.found or "(missing)")


@dataclass(frozen=True)
class BagProblem:
    """Why a bag is invalid; ``kind`` is one of structure, fetch, oxum, missing,
    unexpected, mismatch, symlink."""

    kind: str
    message: str
    path: str | None = None
    algorithm: str | None = None
    expected: str | None = None
    found: str | None = None


@dataclass
class BagReport:
    """Everything validation found out about one bag."""

    path: Path
    version: str | None = None
    algorithms: list[str] = field(default_factory=list)
    info: dict[str, list[str]] = field(default_factory=dict)
    checks: list[BagFileCheck] = field(default_factory=list)
    problems: list[BagProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when no problem of any kind was found."""
        return not self.problems

    @property
    def event_detail(self) -> str:
        """PREMIS eventDetail for the *fixity check* events of the payload files."""
        return event_detail("bagit-python", bagit.VERSION, module="bagit.Bag.validate")

    @property
    def payload_checks(self) -> list[BagFileCheck]:
        """Checks of payload files only (the ones that become PREMIS objects)."""
        return [c for c in self.checks if not c.tag_file]


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def validate_bag(path: str | Path, *, fast: bool = False, workers: int | None = None) -> BagReport:
    """Validate a bag fully (or, with ``fast``, only structure, completeness and oxum).

    Never raises for an invalid bag: every problem lands in ``report.problems``.
    """
    root = Path(path)
    report = BagReport(path=root)
    try:
        bag = bagit.Bag(str(root))
    except bagit.BagError as exc:
        report.problems.append(BagProblem("structure", f"not a valid bag: {exc}"))
        return report
    report.version = ".".join(str(n) for n in bag.version_info)
    report.algorithms = list(bag.algorithms)
    report.info = {k: v if isinstance(v, list) else [v] for k, v in bag.info.items()}
    if not (root / "data").is_dir():
        report.problems.append(BagProblem("structure", "payload directory data/ is missing"))
        return report
    unsupported = [a for a in bag.algorithms if a not in ALGORITHMS]
    for algo in unsupported:
        report.problems.append(BagProblem("structure", f"unsupported manifest algorithm {algo}"))
    if list(bag.files_to_be_fetched()):
        report.problems.append(
            BagProblem("fetch", "fetch.txt lists files to download: the bag is not complete")
        )

    # What is on disk (payload), without following symlinks.
    symlinks: list[TreeProblem] = []
    on_disk = {_nfc(p.relative_to(root).as_posix()): p for p in walk_files(root / "data", symlinks)}
    for problem in symlinks:
        rel = problem.path.relative_to(root).as_posix()
        report.problems.append(BagProblem("symlink", f"{rel}: {problem.message}", rel))

    _check_oxum(bag, on_disk, report)

    # Completeness: payload manifest entries vs files on disk.
    entries = {_nfc(k): (k, v) for k, v in bag.entries.items()}
    payload_names = {n for n, (k, _) in entries.items() if k.startswith("data/")}
    for name in sorted(payload_names - on_disk.keys()):
        report.problems.append(
            BagProblem("missing", f"{name}: listed in manifest but missing", name)
        )
    for name in sorted(on_disk.keys() - payload_names):
        report.problems.append(
            BagProblem("unexpected", f"{name}: not listed in any manifest", name)
        )
    for algo in bag.algorithms:
        listed = {_nfc(k) for k, v in bag.payload_entries().items() if algo in v}
        for name in sorted(payload_names - listed):
            report.problems.append(
                BagProblem("missing", f"{name}: missing from manifest-{algo}.txt", name, algo)
            )
    if fast:
        return report

    targets: dict[str, Path] = {}
    for name, (_orig, _hashes) in entries.items():
        candidate = on_disk.get(name) if name.startswith("data/") else root / name
        if candidate is not None and candidate.is_file() and not candidate.is_symlink():
            targets[name] = candidate
    algos = [a for a in bag.algorithms if a in ALGORITHMS]
    digests = hash_files(sorted(set(targets.values())), algos, workers=workers) if algos else {}
    for name in sorted(entries):
        _orig, hashes = entries[name]
        tag = not name.startswith("data/")
        for algo, expected in sorted(hashes.items()):
            if algo not in ALGORITHMS:
                continue
            target = targets.get(name)
            if target is None:
                report.checks.append(BagFileCheck(name, algo, expected, None, "missing", tag))
                if tag:
                    report.problems.append(
                        BagProblem("missing", f"{name}: tag file listed but missing", name, algo)
                    )
                continue
            found = digests[target].digests[algo]
            outcome = "pass" if found == expected.lower() else "fail"
            report.checks.append(BagFileCheck(name, algo, expected.lower(), found, outcome, tag))
            if outcome == "fail":
                report.problems.append(
                    BagProblem(
                        "mismatch",
                        f"{name}: {algo} mismatch, expected {expected.lower()}, found {found}",
                        name,
                        algo,
                        expected.lower(),
                        found,
                    )
                )
    return report


def _check_oxum(bag: bagit.Bag, on_disk: dict[str, Path], report: BagReport) -> None:
    oxum = bag.info.get("Payload-Oxum")
    if oxum is None:
        return
    if isinstance(oxum, list):
        oxum = oxum[0]
    try:
        octets, streams = (int(x) for x in str(oxum).split(".", 1))
    except ValueError:
        report.problems.append(BagProblem("oxum", f"malformed Payload-Oxum {oxum!r}"))
        return
    total = sum(os.stat(p).st_size for p in on_disk.values())
    if (octets, streams) != (total, len(on_disk)):
        report.problems.append(
            BagProblem(
                "oxum",
                f"Payload-Oxum mismatch: bag-info says {streams} files and {octets} bytes, "
                f"found {len(on_disk)} files and {total} bytes",
                expected=f"{octets}.{streams}",
                found=f"{total}.{len(on_disk)}",
            )
        )
