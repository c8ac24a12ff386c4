"""The ``fixity-audit`` flow: re-verify every stored AIP and record what was found.

Each STORED AIP is checked with :func:`tasks.aipstore.verify_stored_aip` (archives:
sha256 against the digest recorded at store time, then unpacked and verified as a
bag; directories: full bag verification). Each check is a ``fixity check`` PREMIS
event on the AIP's SIP (no file) and updates the Package's last fixity time and
outcome. A damaged AIP is reported, never repaired: the outcome is ``fail`` and the
detail names each problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow
from sqlalchemy import Engine
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import NotFound
from custos.models import Location, Package, PackageStatus, Unit, new_uuid, utcnow
from custos.recorder import Recorder
from tasks.aipreplace import locked, staging_dir
from tasks.aipstore import Verification, verify_stored_aip


@dataclass(frozen=True)
class AuditResult:
    """One AIP's audit: its uuid, outcome and problems."""

    uuid: str
    path: str
    outcome: str
    problems: tuple[str, ...]


def _expected(uuid: str, engine: Engine) -> tuple[Path, str | None, bool]:
    """The stored AIP's path, its recorded sha256, and whether its unit exists."""
    with session_scope(engine) as s:
        pkg = s.get(Package, uuid)
        if pkg is None or pkg.package_type != "AIP":
            raise NotFound(f"no stored AIP {uuid}")
        loc = s.get(Location, pkg.location_uuid)
        assert loc is not None
        return Path(loc.path) / pkg.path, pkg.checksum, s.get(Unit, uuid) is not None


def _verify(uuid: str, engine: Engine) -> tuple[Path, Verification, bool]:
    """Verify the AIP; a failure is confirmed after any replacement in progress ends.

    A reingest swaps the new version in and then records its checksum; an audit
    reading between the two would compare the new file with the old digest. So a
    failure waits for the replacement's lock, re-reads the row and verifies again
    when the row changed meanwhile.
    """
    path, expected, has_unit = _expected(uuid, engine)
    check = verify_stored_aip(path, expected, extract=True)
    if check.outcome.value == "pass":
        return path, check, has_unit
    staging = staging_dir(path.parent, uuid)
    with locked(staging, create=False):  # returns at once when no replacement runs
        again = _expected(uuid, engine)
    if again[:2] != (path, expected):
        path, expected, has_unit = again
        check = verify_stored_aip(path, expected, extract=True)
    return path, check, has_unit


def audit_package(uuid: str, engine: Engine | None = None) -> AuditResult:
    """Verify one stored AIP now and record the ``fixity check`` event."""
    engine = engine or get_engine()
    path, check, has_unit = _verify(uuid, engine)
    problems = tuple(check.problems)
    outcome = check.outcome.value
    if has_unit:
        rec = Recorder(engine)
        rec.write_bulk(
            [],
            [
                {
                    "uuid": new_uuid(),
                    "unit_uuid": uuid,
                    "file_uuid": None,
                    "event_type": "fixity check",
                    "event_datetime": utcnow(),
                    "detail": 'program="Custos"; module="tasks.aipstore.verify_stored_aip"',
                    "outcome": outcome,
                    "outcome_note": "; ".join(problems)[:4000] or f"{path.name} verified",
                    "_agents": None,
                }
            ],
        )
    with session_scope(engine) as s:
        row = s.get(Package, uuid)
        assert row is not None
        row.last_fixity_at, row.last_fixity_outcome = utcnow(), outcome
    return AuditResult(uuid, str(path), outcome, problems)


def stored_aips(engine: Engine | None = None) -> list[str]:
    """UUIDs of every STORED AIP, oldest first."""
    with session_scope(engine or get_engine()) as s:
        return list(
            s.exec(
                select(Package.uuid)
                .where(
                    col(Package.package_type) == "AIP", col(Package.status) == PackageStatus.STORED
                )
                .order_by(col(Package.stored_at))
            ).all()
        )


@flow(name="fixity-audit")
def fixity_audit(uuids: list[str] | None = None) -> dict[str, int]:
    """Audit the AIPs named (by default every stored AIP); returns how many passed and
    failed. ``custos aip verify|audit`` submit it with ``uuids`` and read the results
    from the database."""
    counts = {"pass": 0, "fail": 0}
    for uuid in stored_aips() if uuids is None else uuids:
        counts[audit_package(uuid).outcome] += 1
    return counts
