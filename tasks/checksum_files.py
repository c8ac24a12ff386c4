"""Verify user-supplied checksum files (``metadata/checksum.<algorithm>``).

Archivematica's *Verify metadata directory checksums* runs ``md5sum -c --strict``
(and friends) from the transfer root, so paths in the file are relative to the
transfer root (``objects/photo.jpg``), and it requires one line per file in
``objects/``. We do the same in-process, hashing each file once for all checksum
files present, and report every problem instead of stopping at the first:
mismatches (file, algorithm, expected, found), files listed but missing, files
in ``objects/`` that no line covers, and malformed lines.

Paths written relative to ``objects/`` (a common user mistake) are accepted when
they resolve there, with a note; paths escaping the transfer are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from custos.errors import FixityMismatch
from custos.fixity import hash_files
from custos.programs import event_detail
from custos.walk import walk_files

#: Checksum file name -> hashlib algorithm (Archivematica's HASHFILES_COMMANDS).
CHECKSUM_FILES: dict[str, str] = {
    "checksum.md5": "md5",
    "checksum.sha1": "sha1",
    "checksum.sha256": "sha256",
    "checksum.sha512": "sha512",
}
_HEX_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_GNU_LINE = re.compile(r"^(\\?)([0-9a-fA-F]+) [ *](.+)$")
_BSD_LINE = re.compile(r"^(\\?)(MD5|SHA1|SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)$")


@dataclass(frozen=True)
class ChecksumLine:
    """One parsed line of a checksum file."""

    line_no: int
    expected: str
    name: str  # the path exactly as written (after un-escaping)


@dataclass(frozen=True)
class FileCheck:
    """Outcome for one listed file: ``pass``, ``fail`` (mismatch) or ``missing``."""

    relpath: str
    path: Path
    algorithm: str
    expected: str
    found: str | None
    outcome: str
    note: str = ""

    @property
    def passed(self) -> bool:
        """True when the file exists and its digest matches."""
        return self.outcome == "pass"

    def as_error(self) -> FixityMismatch:
        """The mismatch as an exception (for callers that stop on the first failure)."""
        return FixityMismatch(self.relpath, self.algorithm, self.expected, self.found or "")


@dataclass
class ChecksumFileReport:
    """Verification of one ``checksum.<algorithm>`` file against the transfer."""

    checksum_file: Path
    algorithm: str
    checks: list[FileCheck] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[FileCheck]:
        """Listed files that are missing or whose digest differs."""
        return [c for c in self.checks if not c.passed]

    @property
    def passed(self) -> bool:
        """Archivematica's rule: every line well-formed and matching, every file listed."""
        return not self.failures and not self.unlisted and not self.malformed

    @property
    def event_detail(self) -> str:
        """PREMIS eventDetail for the per-file *fixity check* events."""
        return event_detail(
            "python",
            None,
            module=f"hashlib.{self.algorithm}()",
            checksumFile=f"metadata/{self.checksum_file.name}",
        )

    def problems(self) -> list[str]:
        """Human-readable problems, one per line, for the job's stderr / outcome note."""
        out = [
            f"{self.checksum_file.name}: {c.relpath}: {c.note}"
            if c.outcome == "missing"
            else f"{self.checksum_file.name}: {c.relpath}: {c.algorithm} mismatch, "
            f"expected {c.expected}, found {c.found}"
            for c in self.failures
        ]
        out += [f"{self.checksum_file.name}: {p}: not listed" for p in self.unlisted]
        out += [f"{self.checksum_file.name}: {m}" for m in self.malformed]
        return out


def _unescape(name: str) -> str:
    """Undo coreutils' escaping of ``\\`` and newlines in names (line starts with ``\\``)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), name)


def parse_checksum_file(path: str | Path, algorithm: str) -> tuple[list[ChecksumLine], list[str]]:
    """Parse GNU (``<hex>  <path>``) or BSD (``SHA256 (<path>) = <hex>``) lines.

    Returns the good lines and a message per malformed one. Bytes that are not
    UTF-8 are kept with ``surrogateescape`` so they still match the file name on
    disk; a BOM and CRLF line ends (Windows tools) are tolerated.
    """
    raw = Path(path).read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    entries: list[ChecksumLine] = []
    malformed: list[str] = []
    want = _HEX_LEN[algorithm]
    for line_no, line in enumerate(raw.decode("utf-8", "surrogateescape").split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        bsd = _BSD_LINE.match(line)
        gnu = None if bsd else _GNU_LINE.match(line)
        if bsd:
            escaped, _tag, name, hexdigest = bsd.groups()
        elif gnu:
            escaped, hexdigest, name = gnu.groups()
        else:
            malformed.append(f"line {line_no}: improperly formatted: {line[:120]!r}")
            continue
        if len(hexdigest) != want:
            malformed.append(
                f"line {line_no}: {len(hexdigest)}-digit digest is not {algorithm} ({want})"
            )
            continue
        entries.append(
            ChecksumLine(line_no, hexdigest.lower(), _unescape(name) if escaped else name)
        )
    return entries, malformed


def _resolve(root: Path, name: str) -> tuple[Path | None, str, str]:
    """Map a listed name to a path inside the transfer: (path, relpath, note)."""
    posix = PurePosixPath(name)
    if posix.is_absolute() or ".." in posix.parts:
        return None, name, "path outside the transfer refused"
    rel = PurePosixPath(*[p for p in posix.parts if p != "."]) if posix.parts else posix
    direct = root / rel
    if direct.is_file() and not direct.is_symlink():
        return direct, rel.as_posix(), ""
    if rel.parts and rel.parts[0] != "objects":
        under = root / "objects" / rel
        if under.is_file() and not under.is_symlink():
            return under, f"objects/{rel.as_posix()}", "path taken relative to objects/"
    return None, rel.as_posix(), "listed but missing"


def find_checksum_files(transfer_dir: str | Path) -> list[tuple[Path, str]]:
    """The ``metadata/checksum.*`` files present, with their algorithms."""
    metadata = Path(transfer_dir) / "metadata"
    return [
        (metadata / name, algo)
        for name, algo in CHECKSUM_FILES.items()
        if (metadata / name).is_file()
    ]


def verify_transfer_checksums(
    transfer_dir: str | Path, *, workers: int | None = None
) -> list[ChecksumFileReport]:
    """Verify every ``metadata/checksum.*`` file of a transfer; [] if there are none.

    Each file in ``objects/`` is read once, whatever the number of checksum
    files. The caller records a *fixity check* event per passing file and fails
    the job when any report has ``passed == False``.
    """
    root = Path(transfer_dir)
    found = find_checksum_files(root)
    if not found:
        return []
    objects = list(walk_files(root / "objects")) if (root / "objects").is_dir() else []
    parsed: list[tuple[Path, str, list[tuple[ChecksumLine, Path | None, str, str]], list[str]]]
    parsed = []
    wanted: set[Path] = set()
    for checksum_file, algo in found:
        lines, malformed = parse_checksum_file(checksum_file, algo)
        resolved = [(line, *_resolve(root, line.name)) for line in lines]
        wanted.update(p for _, p, _, _ in resolved if p is not None)
        parsed.append((checksum_file, algo, resolved, malformed))
    algos = sorted({algo for _, algo in found})
    digests = hash_files(sorted(wanted), algos, workers=workers)
    reports = []
    for checksum_file, algo, resolved, malformed in parsed:
        report = ChecksumFileReport(checksum_file, algo, malformed=malformed)
        covered: set[Path] = set()
        for line, path, relpath, note in resolved:
            if path is None:
                report.checks.append(
                    FileCheck(relpath, root / relpath, algo, line.expected, None, "missing", note)
                )
                continue
            covered.add(path)
            digest = digests[path].digests[algo]
            outcome = "pass" if digest == line.expected else "fail"
            report.checks.append(
                FileCheck(relpath, path, algo, line.expected, digest, outcome, note)
            )
        report.unlisted = [
            os.fsdecode(p.relative_to(root).as_posix()) for p in objects if p not in covered
        ]
        reports.append(report)
    return reports
