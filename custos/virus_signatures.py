"""Which ClamAV signatures Custos scans with, and whether they are the official ones.

*Official* means the folder holds ClamAV's own ``main`` and ``daily`` databases
(``.cvd`` as downloaded, or ``.cld`` once freshclam has applied an incremental
update), each starting with a well-formed 512-byte ``ClamAV-VDB`` header: the
build time, version, signature count, functionality level and builder that
``sigtool --info`` prints. ``bytecode`` is optional (freshclam's ``Bytecode no``).
ClamAV itself verifies the digital signature of a ``.cvd`` when it loads it, so
a forged file makes the scan fail rather than pass.

The folder is chosen once per question, in this order:

1. ``CUSTOS_CLAMAV_DATABASE`` when set (tests set it to the shipped test set);
2. the system folder kept by freshclam (``CUSTOS_CLAMAV_SYSTEM_DATABASE``,
   ``/var/lib/clamav``) when it holds official signatures;
3. otherwise the shipped test set (:data:`TEST_SIGNATURES`: EICAR and Custos'
   own test marker, nothing else), which is then reported as ``test-only``
   everywhere: the *virus check* events, ``custos serve``, ``/custos/health``.

Example::

    db = select_database(get_settings())
    db.status, db.version      # ("official", "main 62, daily 27577 (...), bytecode 335")
    refusal(get_settings(), db)  # a message when official ones are required but missing
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from custos.settings import PACKAGE_DATA, Settings

OFFICIAL, TEST_ONLY = "official", "test-only"
#: The shipped signatures: detect the EICAR test file and Custos' test marker only.
TEST_SIGNATURES = PACKAGE_DATA / "clamav"
REQUIRED = ("main", "daily")
OPTIONAL = ("bytecode",)
#: A daily database older than this is reported as stale by ``custos serve``.
STALE_AFTER = timedelta(days=7)
DOCS = "docs/virus-signatures.md"
_HEADER_SIZE = 512
_MAGIC = "ClamAV-VDB"


@dataclass(frozen=True)
class CvdHeader:
    """The header of one official database file (``daily.cld`` ...)."""

    name: str
    file: str
    version: int
    built: str
    signatures: int
    level: int
    builder: str
    built_at: datetime | None

    def describe(self) -> str:
        """``daily 27577 (14 Mar 2025 06:12 -0400)``."""
        return f"{self.name} {self.version} ({self.built})"


def read_header(path: Path) -> CvdHeader | None:
    """Parse a ``.cvd``/``.cld`` header; None when the file is not a ClamAV database.

    ``ClamAV-VDB:<built>:<version>:<signatures>:<level>:<md5>:<dsig>:<builder>:<stime>``
    padded with spaces to 512 bytes, followed by the signatures themselves.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_HEADER_SIZE + 1)
    except OSError:
        return None
    if len(raw) <= _HEADER_SIZE:  # a header alone carries no signatures
        return None
    fields = raw[:_HEADER_SIZE].decode("ascii", "replace").rstrip(" \0\n").split(":")
    if len(fields) < 9 or fields[0] != _MAGIC:
        return None
    try:
        version, count, level = int(fields[2]), int(fields[3]), int(fields[4])
        stime = int(fields[8]) if fields[8].strip() else None
    except ValueError:
        return None
    if version <= 0 or count <= 0 or not fields[7].strip():
        return None
    try:
        built_at = datetime.fromtimestamp(stime, UTC) if stime else None
    except (OverflowError, OSError, ValueError):
        built_at = None
    # the build time spells hours-minutes with "-" (":" separates the fields)
    built = re.sub(r"\b(\d{2})-(\d{2})\b", r"\1:\2", fields[1], count=1)
    return CvdHeader(
        name=path.stem,
        file=path.name,
        version=version,
        built=built,
        signatures=count,
        level=level,
        builder=fields[7].strip(),
        built_at=built_at,
    )


@dataclass(frozen=True)
class SignatureDatabase:
    """A folder of signatures and the verdict on it.

    ``reason`` says why it is not official (empty when it is); ``named`` is
    true when ``CUSTOS_CLAMAV_DATABASE`` chose it.
    """

    directory: Path
    status: str
    headers: tuple[CvdHeader, ...] = ()
    reason: str = ""
    named: bool = False

    @property
    def official(self) -> bool:
        return self.status == OFFICIAL

    @property
    def version(self) -> str | None:
        """``main 62 (...), daily 27577 (...)``; None when not official."""
        if not self.official:
            return None
        return ", ".join(h.describe() for h in self.headers)

    @property
    def daily(self) -> CvdHeader | None:
        return next((h for h in self.headers if h.name == "daily"), None)


def _newest(directory: Path, name: str) -> tuple[CvdHeader | None, str]:
    """The best-versioned ``<name>.cvd``/``.cld`` of a folder, or why there is none."""
    found: list[CvdHeader] = []
    bad: list[str] = []
    for suffix in (".cvd", ".cld"):
        path = directory / f"{name}{suffix}"
        if not path.is_file():
            continue
        header = read_header(path)
        if header is None:
            bad.append(path.name)
        else:
            found.append(header)
    if found:
        return max(found, key=lambda h: h.version), ""
    if bad:
        return None, f"{' and '.join(bad)} in {directory} is not a ClamAV database"
    return None, f"no {name}.cvd or {name}.cld in {directory}"


def inspect_database(directory: Path, *, named: bool = False) -> SignatureDatabase:
    """Judge one folder: official when it holds a valid main and daily database."""
    if not directory.is_dir():
        return SignatureDatabase(
            directory, TEST_ONLY, reason=f"{directory} does not exist", named=named
        )
    headers: list[CvdHeader] = []
    for name in REQUIRED:
        header, why = _newest(directory, name)
        if header is None:
            return SignatureDatabase(directory, TEST_ONLY, reason=why, named=named)
        headers.append(header)
    for name in OPTIONAL:
        header, _ = _newest(directory, name)
        if header is not None:
            headers.append(header)
    return SignatureDatabase(directory, OFFICIAL, tuple(headers), named=named)


def select_database(settings: Settings) -> SignatureDatabase:
    """The folder scans use under ``settings`` (see the module docstring for the order)."""
    if settings.clamav_database is not None:
        return inspect_database(settings.clamav_database.absolute(), named=True)
    system = inspect_database(settings.clamav_system_database)
    if system.official:
        return system
    return SignatureDatabase(
        TEST_SIGNATURES, TEST_ONLY, reason=f"no official signatures: {system.reason}"
    )


def refusal(settings: Settings, database: SignatureDatabase) -> str | None:
    """Why a virus check must refuse to run (``CUSTOS_CLAMAV_REQUIRE_OFFICIAL``), or None."""
    if database.official or not settings.clamav_require_official:
        return None
    return (
        f"virus check refused: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set and only test "
        f"signatures are available ({database.reason}); install the official ones "
        f"with freshclam (see {DOCS})"
    )


def startup_messages(settings: Settings, now: datetime | None = None) -> list[str]:
    """What ``custos serve`` tells the operator about the signatures before starting."""
    db = select_database(settings)
    if db.official:
        lines = [f"virus signatures: official in {db.directory} ({db.version})"]
        daily = db.daily
        current = now or datetime.now(UTC)
        if daily is not None and daily.built_at and current - daily.built_at > STALE_AFTER:
            days = (current - daily.built_at).days
            lines.append(
                f"warning: the daily ClamAV signatures are {days} days old: is "
                f"freshclam running? (see {DOCS})"
            )
        return lines
    holds = (
        "detects only the EICAR test file and Custos' test marker"
        if db.directory.resolve() == TEST_SIGNATURES.resolve()
        else "holds no official ClamAV signatures"
    )
    lines = [
        f"warning: virus signatures are test-only ({db.reason}): scans use "
        f"{db.directory}, which {holds}, and every virus check event says so; "
        f"install the official signatures with freshclam (see {DOCS})"
    ]
    if settings.clamav_require_official:
        lines.append(
            "error: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is set: every virus check will "
            "fail its transfer or ingest until official signatures are installed"
        )
    return lines


def health_fields(settings: Settings) -> dict[str, str | None]:
    """The signature part of ``/custos/health`` (no folder names: the endpoint is public)."""
    db = select_database(settings)
    return {
        "virus_signatures": db.status,
        "virus_signatures_version": db.version,
        "virus_checks": "refused" if refusal(settings, db) else "ok",
    }
