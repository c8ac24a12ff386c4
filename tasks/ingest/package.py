"""Bag, compress, verify and store the AIP; store the DIP. Every step is re-runnable.

The packaged AIP is built in a work folder beside the SIP (``.aip-<sip uuid>/``), and
what was built is remembered on the unit (``variables["aip"]``), so the store step,
possibly run by a later flow run after a crash, knows what to store and which digest
proves it. Storing is recorded with a ``STORING`` Package row first: a re-run that
finds it finishes the interrupted store (a verified copy under the final name is
accepted, a verified temporary copy is renamed, anything else is removed and the
AIP stored again). A final name is never overwritten, except by a reingest's new
version, swapped in by :mod:`tasks.aipreplace`. The DIP is stored the same way, its
copy checked against the DIP's own digests (:mod:`tasks.dipstore`).
:func:`sweep_stores` is the reconciler's sweep of every AIP and DIP store.
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid as uuid_mod
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Engine
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import FixityMismatch, StorageError, ToolFailed
from custos.faults import fault
from custos.models import (
    File,
    Location,
    LocationPurpose,
    Package,
    PackageStatus,
    Unit,
    UnitStatus,
    utcnow,
)
from custos.storage import default_location, get_location
from custos.stored_aips import verify_aip_bag
from tasks import aipreplace, aipstore, dipstore, space
from tasks.aip_bag import build_aip_bag
from tasks.tools.compress import Compression, CompressionResult, archive_name, compress_aip

from .sip import Sip, sip_files

log = logging.getLogger(__name__)
PROCESSING = "the processing location"
_LOCATION_URI = re.compile(r"^/api/v2/location/(?P<id>[^/]+)/(?:(?P<purpose>[A-Z]{2})/)?$")


@dataclass(frozen=True)
class Packaged:
    """The AIP as built: where it is, how it was packaged, its archive digest."""

    path: Path
    bag: Path
    compression: Compression
    sha256: str | None
    size: int
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "bag": str(self.bag),
            "compression": self.compression.value,
            "sha256": self.sha256,
            "size": self.size,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Packaged:
        return cls(
            Path(raw["path"]),
            Path(raw["bag"]),
            Compression(raw["compression"]),
            raw.get("sha256"),
            int(raw.get("size") or 0),
            raw.get("detail", ""),
        )


def work_dir(sip: Sip) -> Path:
    """The SIP's packaging folder, next to the SIP in the processing location."""
    return sip.path.parent / f".aip-{sip.uuid}"


def known_checksums(sip: Sip, engine: Engine | None = None) -> dict[str, str]:
    """sha256 digests recorded for the SIP's files, by path (the transfer's, reused)."""
    return {
        f.current_path: f.checksum
        for f in sip_files(sip.uuid, engine=engine)
        if f.checksum and f.checksum_type == "sha256"
    }


def bag_path(sip: Sip) -> Path:
    """Where :func:`build_bag` builds the SIP's AIP bag."""
    return work_dir(sip) / f"{sip.name}-{sip.uuid}"


def build_bag(sip: Sip, engine: Engine | None = None) -> Path:
    """Build the AIP bag afresh in the work folder (a previous attempt is discarded).

    Raises:
        NoSpace: the processing location filled up (the partial bag is removed).
    """
    work = work_dir(sip)
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir(parents=True)
        result = build_aip_bag(
            sip.path,
            work,
            name=sip.name,
            sip_uuid=UUID(sip.uuid),
            checksums=known_checksums(sip, engine),
        )
    except (OSError, StorageError) as exc:
        full = space.no_space(exc, sip.path.parent, space.tree_size(sip.path), PROCESSING)
        if full is None:
            raise
        shutil.rmtree(work, ignore_errors=True)
        raise full from exc
    fault("prepare-aip:bagged")
    return result.path


def verify_bag(bag: Path, sip_uuid: str) -> list[str]:
    """Every problem of a full bag verification (empty: the bag is valid)."""
    report = verify_aip_bag(bag, sip_uuid=UUID(sip_uuid))
    return [p.message for p in report.problems]


def compress(bag: Path, method: Compression, level: int) -> Packaged:
    """Package the bag as configured (``UNCOMPRESSED`` keeps the directory) and start
    writing it to the disk (``aipstore.start_writeback``).

    An archive left by an attempt that was not recorded is made again.

    Raises:
        NoSpace: the processing location filled up (nothing partial is kept).
    """
    chosen = None if method in (Compression.SEVEN_Z_COPY, Compression.UNCOMPRESSED) else level
    if method is not Compression.UNCOMPRESSED:
        (bag.parent / archive_name(bag, method)).unlink(missing_ok=True)
    try:
        result: CompressionResult = compress_aip(bag, bag.parent, method=method, level=chosen)
    except (OSError, StorageError, ToolFailed) as exc:
        full = space.no_space(exc, bag.parent.parent, space.tree_size(bag), PROCESSING)
        if full is None:
            raise
        raise full from exc
    aipstore.start_writeback(result.path)  # to disk while it is verified, not after
    return Packaged(result.path, bag, method, result.sha256, result.size, result.event_detail)


def remember(sip_uuid: str, packaged: Packaged, engine: Engine | None = None) -> None:
    """Keep what was packaged on the unit for the store step."""
    with session_scope(engine or get_engine()) as s:
        unit = s.get(Unit, sip_uuid)
        assert unit is not None
        unit.variables = {**(unit.variables or {}), "aip": packaged.as_dict()}


def recalled(sip_uuid: str, engine: Engine | None = None) -> Packaged | None:
    """The packaged AIP remembered on the unit, if its files still exist."""
    with session_scope(engine or get_engine()) as s:
        unit = s.get(Unit, sip_uuid)
        raw = (unit.variables or {}).get("aip") if unit else None
    if not raw:
        return None
    packaged = Packaged.from_dict(raw)
    return packaged if packaged.path.exists() else None


def location_choices(
    purpose: LocationPurpose, engine: Engine | None = None
) -> list[tuple[str, str]]:
    """(URI, label) of every location for ``purpose``, the default first."""
    with session_scope(engine or get_engine()) as s:
        rows = s.exec(
            select(Location)
            .where(col(Location.purpose) == purpose)
            .order_by(col(Location.is_default).desc(), col(Location.created_at))
        ).all()
    return [(f"/api/v2/location/{loc.uuid}/", loc.description or loc.path) for loc in rows]


def resolve_location(
    uri: str | None, purpose: LocationPurpose, engine: Engine | None = None
) -> Location:
    """A location from an Archivematica location URI (``default`` means the default)."""
    match = _LOCATION_URI.match(uri or "")
    if not match or match.group("id") == "default":
        return default_location(purpose, engine)
    loc = get_location(match.group("id"), engine)
    if loc.purpose != purpose:
        raise StorageError(f"location {loc.uuid} is not a {purpose.value} location")
    return loc


def sweep_leftovers(
    location: Location,
    engine: Engine | None = None,
    *,
    grace_seconds: float = aipstore.DEFAULT_GRACE_SECONDS,
) -> aipstore.Cleanup:
    """Store-wide clean-up of interrupted stores and replacements (the reconciler's job).

    A leftover of a unit still PROCESSING belongs to an ingest that is running (or will
    be resumed and finish it itself): it is kept. An interrupted replacement
    (``.reingest-<uuid>/``) of any other unit is recovered at once: the final name gets
    a version if it had none, and the Package row is brought up to date when the new
    version holds it. Interrupted ``.tmp-*`` copies older than the grace period are
    finished when they verify against their Package's digest, else removed; an
    ``.old-*`` version is put back when its final name is empty, else removed.
    """
    engine = engine or get_engine()
    with session_scope(engine) as s:
        rows = s.exec(select(Package).where(col(Package.location_uuid) == location.uuid)).all()
        processing = set(
            s.exec(select(Unit.uuid).where(col(Unit.status) == UnitStatus.PROCESSING)).all()
        )
        busy_owners = processing | {dip_uuid(u) for u in processing}
        busy = {pkg.path for pkg in rows if pkg.uuid in busy_owners}
        digests = {pkg.path: pkg.checksum for pkg in rows}
    store_dir = Path(location.path)
    result = _sweep_replacements(store_dir, processing, engine)
    return result.merge(
        aipstore.clean_leftovers(
            store_dir,
            finish=True,
            expected_sha256=digests.get,
            grace_seconds=grace_seconds,
            in_use=busy.__contains__,
        )
    )


def _sweep_replacements(store_dir: Path, busy: set[str], engine: Engine) -> aipstore.Cleanup:
    """Recover every ``.reingest-<uuid>/`` of a unit not PROCESSING and not locked."""
    result = aipstore.Cleanup()
    for staging in aipstore.leftovers(store_dir, (aipreplace.REINGEST_PREFIX,)):
        owner = staging.name.removeprefix(aipreplace.REINGEST_PREFIX)
        if owner in busy or not staging.is_dir():
            result.kept.append(staging)
            continue
        with aipreplace.locked(staging, create=False, wait=False) as mine:
            if not mine:
                result.kept.append(staging)
                continue
            try:
                found = aipreplace.recover(staging, partial(_record, owner, engine=engine))
            except (StorageError, OSError) as exc:  # left for an operator, said each pass
                log.error("cannot recover the replacement in %s: %s", staging, exc)
                result.kept.append(staging)
                continue
            aipreplace.discard(staging)
        result.removed.append(staging)
        if found.renamed and found.journal is not None:
            (result.finished if found.new_won else result.restored).append(
                store_dir / found.journal.final
            )
    return result


def sweep_stores(
    engine: Engine | None = None, *, grace_seconds: float = aipstore.DEFAULT_GRACE_SECONDS
) -> aipstore.Cleanup:
    """:func:`sweep_leftovers` over every AIP and DIP storage location."""
    engine = engine or get_engine()
    with session_scope(engine) as s:
        locations = list(
            s.exec(
                select(Location).where(
                    col(Location.purpose).in_(
                        [LocationPurpose.AIP_STORAGE, LocationPurpose.DIP_STORAGE]
                    )
                )
            ).all()
        )
    result = aipstore.Cleanup()
    for location in locations:
        result.merge(sweep_leftovers(location, engine, grace_seconds=grace_seconds))
    return result


def _record(package_uuid: str, new: aipreplace.Replacement, *, engine: Engine) -> None:
    """Bring the Package row up to date with the version now under its final name."""
    with session_scope(engine) as s:
        row = s.get(Package, package_uuid)
        if row is None or row.path != new.final:
            return
        row.size, row.checksum = new.size, new.sha256
        row.status, row.stored_at = PackageStatus.STORED, utcnow()


def store(
    sip: Sip,
    packaged: Packaged,
    location: Location,
    engine: Engine | None = None,
    *,
    replace: bool = False,
) -> Package:
    """Store the packaged AIP in ``location`` and record it STORED (idempotent).

    ``replace`` (reingest) lets a new version take the place of the stored one (see
    :mod:`tasks.aipreplace`): the final name holds the old version until the new one
    has verified in the store, then the new one, never nothing.

    Raises:
        StorageError: another, unverifiable AIP already holds the final name.
        FixityMismatch: the stored copy's digest differs from the packaged one.
    """
    engine = engine or get_engine()
    store_dir = Path(location.path)
    final = store_dir / packaged.path.name
    with session_scope(engine) as s:
        pkg = s.get(Package, sip.uuid)
        if pkg is None:
            pkg = Package(
                uuid=sip.uuid,
                package_type="AIP",
                name=sip.aip_name,
                location_uuid=location.uuid,
                path=final.name,
                checksum=packaged.sha256,
                compression=packaged.compression.value,
                status=PackageStatus.STORING,
            )
            s.add(pkg)
        elif pkg.status != PackageStatus.STORED:
            pkg.location_uuid, pkg.path = location.uuid, final.name
            pkg.checksum, pkg.status = packaged.sha256, PackageStatus.STORING
    if (
        replace
        and aipreplace.replace_aip(
            packaged.path,
            store_dir,
            sip.uuid,
            expected_sha256=packaged.sha256,
            record=lambda new: _record(sip.uuid, new, engine=engine),
        )
        is not None
    ):
        aipstore.clean_leftovers(store_dir, name=final.name)
        return _package_row(sip.uuid, engine)
    aipstore.clean_leftovers(
        store_dir, finish=True, name=final.name, expected_sha256=lambda _name: packaged.sha256
    )
    if final.exists():
        check = aipstore.verify_stored_aip(final, packaged.sha256)
        if check.outcome is not aipstore.Outcome.PASS:
            raise StorageError(
                f"{final.name} is already in the store and does not verify: "
                f"{'; '.join(check.problems)}"
            )
        stored = aipstore.StoredAIP(final, aipstore.stored_size(final), packaged.sha256)
    else:
        stored = aipstore.store_aip(packaged.path, store_dir, expected_sha256=packaged.sha256)
    if packaged.sha256 and stored.sha256 and stored.sha256 != packaged.sha256:
        raise FixityMismatch(final.name, "sha256", packaged.sha256, stored.sha256)
    fault("store:stored")  # a re-run finds it under its final name and verifies it
    with session_scope(engine) as s:
        row = s.get(Package, sip.uuid)
        assert row is not None
        row.size, row.checksum = stored.size, packaged.sha256
        row.status, row.stored_at = PackageStatus.STORED, utcnow()
        return row


def _package_row(package_uuid: str, engine: Engine) -> Package:
    with session_scope(engine) as s:
        row = s.get(Package, package_uuid)
        assert row is not None
        return row


def dip_uuid(sip_uuid: str) -> str:
    """The DIP's Package uuid, derived from the SIP's so a re-run finds it."""
    return str(uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"custos:dip:{sip_uuid}"))


def prepare_dip(sip: Sip) -> Path | None:
    """Complete ``DIP/`` with the thumbnails and the METS; None when there is no DIP."""
    dip = sip.path / "DIP"
    if not (dip / "objects").is_dir():
        return None
    if (sip.path / "thumbnails").is_dir():
        shutil.copytree(sip.path / "thumbnails", dip / "thumbnails", dirs_exist_ok=True)
    fault("prepare-dip:copying")
    shutil.copy2(sip.mets_path, dip / sip.mets_path.name)  # whole again if redone
    return dip


def store_dip(sip: Sip, dip: Path, location: Location, engine: Engine | None = None) -> Package:
    """Store the DIP in ``location`` as ``<name>-<uuid>/`` and record it (idempotent).

    As an AIP: a STORING Package row first, a temporary copy checked file by file
    against the DIP, fsync'ed, renamed (:mod:`tasks.dipstore`). A re-run accepts a copy
    already under the final name only if it matches the DIP.

    Raises:
        StorageError: the copy cannot be written, or another DIP holds the final name.
        InvalidInput: the copy does not match the DIP.
    """
    engine = engine or get_engine()
    store_dir = Path(location.path)
    final = store_dir / sip.aip_name
    package_uuid = dip_uuid(sip.uuid)
    with session_scope(engine) as s:
        pkg = s.get(Package, package_uuid)
        if pkg is None:
            s.add(
                Package(
                    uuid=package_uuid,
                    package_type="DIP",
                    name=sip.aip_name,
                    location_uuid=location.uuid,
                    path=final.name,
                    status=PackageStatus.STORING,
                )
            )
        elif pkg.status != PackageStatus.STORED:
            pkg.location_uuid, pkg.path = location.uuid, final.name
            pkg.status = PackageStatus.STORING
    expected = dipstore.manifest(dip)
    aipstore.clean_leftovers(store_dir, name=final.name)
    if final.exists():
        problems = dipstore.problems(final, expected)
        if problems:
            raise StorageError(
                f"{final.name} is already in the DIP store and does not match "
                f"this DIP: {'; '.join(problems[:5])}"
            )
        size = aipstore.stored_size(final)
    else:
        size = dipstore.store_dip_copy(dip, store_dir, final.name, expected).size
    fault("store-dip:stored")  # a re-run finds it under its final name and checks it
    with session_scope(engine) as s:
        row = s.get(Package, package_uuid)
        assert row is not None
        row.size, row.status, row.stored_at = size, PackageStatus.STORED, utcnow()
        return row


def access_files(sip: Sip, engine: Engine | None = None) -> list[File]:
    """The SIP's access derivatives (what makes a DIP)."""
    return sip_files(sip.uuid, uses=("access",), engine=engine)


def cleanup(sip: Sip) -> None:
    """Remove the packaging folder (after the AIP is stored)."""
    shutil.rmtree(work_dir(sip), ignore_errors=True)


def remove_processing_directory(sip: Sip) -> None:
    """Remove the SIP's directory and its packaging folder from processing."""
    cleanup(sip)
    fault("remove-processing:removing")
    shutil.rmtree(sip.path, ignore_errors=True)
