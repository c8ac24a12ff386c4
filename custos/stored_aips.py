"""Reading a stored AIP: one file of it, a verified copy out, the AIP bag rules.

These are storage reads the drivers need (``custos aip show`` reads the METS of a
stored AIP, ``custos aip download`` copies one out) and the storing steps share
(``tasks.aipstore`` stores and audits AIPs with the same copy and verification).
A stored AIP is a bag directory or an archive of one (7-Zip or tar); 7-Zip is run
through :mod:`custos.programs`.

Usage::

    mets = read_member(stored_path, f"data/METS.{uuid}.xml")
    copied = copy_out(stored_path, Path("~/aips").expanduser() / stored_path.name)
    report = verify_aip_bag(bag_dir, sip_uuid=sip_uuid)
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from custos.bag_check import BagProblem, BagReport, validate_bag
from custos.errors import FixityMismatch, InvalidInput, StorageError
from custos.programs import run, seven_zip

#: Prefix of a copy being written (into the store, or out of it) before its rename.
TMP_PREFIX = ".tmp-"
#: The digest every AIP bag's manifest uses.
ALGORITHM = "sha256"
#: Archive suffixes of stored AIPs (the bag directory is the name without one).
ARCHIVE_SUFFIXES = (".7z", ".tar.gz", ".tgz", ".tar.bz2", ".tar")


@dataclass(frozen=True)
class StoredAIP:
    """Where an AIP (or a copy of one) landed, its size and (archives) its sha256."""

    path: Path
    size: int
    sha256: str | None


def token() -> str:
    """A short random token for temporary names."""
    return secrets.token_hex(4)


def remove(path: Path) -> None:
    """Remove a file, link or tree (missing is fine)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def copy_file_hashing(src: Path, dst: Path) -> str:
    """Copy ``src`` to ``dst`` and return the sha256 of the bytes written to ``dst``.

    The digest is taken from the destination once written (re-read), not from the
    source stream, so corruption on the way is caught.
    """
    shutil.copyfile(src, dst)
    return file_sha256(dst)


def verify_aip_bag(
    path: Path, *, sip_uuid: UUID | None = None, workers: int | None = None
) -> BagReport:
    """Fully verify an AIP bag: every manifest entry re-hashed, completeness both ways,
    Payload-Oxum, tag manifest, plus the AIP rules (sha256 manifest, External-Identifier,
    the METS file when ``sip_uuid`` is given). Never raises for a bad bag: problems are
    in ``report.problems`` (``report.valid`` False)."""
    report = validate_bag(path, workers=workers)
    if report.version is None:
        return report
    if ALGORITHM not in report.algorithms:
        report.problems.append(BagProblem("aip", f"no manifest-{ALGORITHM}.txt"))
    identifiers = report.info.get("External-Identifier", [])
    if sip_uuid is not None:
        if str(sip_uuid) not in identifiers:
            report.problems.append(
                BagProblem("aip", f"External-Identifier is {identifiers}, expected {sip_uuid}")
            )
        mets = f"data/METS.{sip_uuid}.xml"
        if not (Path(path) / mets).is_file():
            report.problems.append(BagProblem("aip", f"METS file {mets} is missing", path=mets))
    elif not identifiers:
        report.problems.append(BagProblem("aip", "bag-info.txt has no External-Identifier"))
    return report


def copy_out(stored: Path, target: Path, *, expected_sha256: str | None = None) -> StoredAIP:
    """Copy a stored AIP out of the store to ``target``, a path that must not exist.

    The copy is written under a temporary name next to ``target``, verified (archive:
    sha256 against ``expected_sha256`` when given; directory: full bag validation),
    then put in place without ever replacing anything (a file is hard-linked to its
    final name, which fails if the name was taken meanwhile).

    Raises:
        StorageError: ``target`` exists, its folder is missing, or the copy fails.
        FixityMismatch: the copy's sha256 differs from ``expected_sha256``.
        InvalidInput: the copied bag directory does not validate.
    """
    stored, target = Path(stored), Path(target)
    if not stored.exists():
        raise StorageError(f"the stored AIP {stored.name} is missing from its store")
    if target.exists() or target.is_symlink():
        raise StorageError(f"{target} already exists; not overwritten")
    if not target.parent.is_dir():
        raise StorageError(f"{target.parent} is not a directory")
    tmp = target.parent / f"{TMP_PREFIX}{token()}-{target.name}"
    try:
        if stored.is_dir():
            shutil.copytree(stored, tmp, symlinks=True)
            report = verify_aip_bag(tmp)
            if not report.valid:
                raise InvalidInput(
                    f"the copy of {stored.name} is not a valid bag",
                    [p.message for p in report.problems],
                )
            digest = None
            size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
            if target.exists():
                raise StorageError(f"{target} appeared meanwhile; not overwritten")
            os.rename(tmp, target)
        else:
            digest = copy_file_hashing(stored, tmp)
            if expected_sha256 is not None and digest != expected_sha256:
                raise FixityMismatch(str(stored), "sha256", expected_sha256, digest)
            size = tmp.stat().st_size
            try:
                os.link(tmp, target)
            except FileExistsError as exc:
                raise StorageError(f"{target} appeared meanwhile; not overwritten") from exc
            tmp.unlink()
    except BaseException as exc:
        remove(tmp)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot copy {stored.name} to {target}: {exc}") from exc
        raise
    return StoredAIP(target, size, digest)


def read_member(stored: Path, member: str, scratch_dir: Path | None = None) -> bytes:
    """The bytes of one file of a stored AIP, by its path inside the bag directory
    (``data/METS.<uuid>.xml``), without unpacking the whole archive.

    Raises:
        InvalidInput: the AIP holds no such file, or cannot be read.
        ToolFailed: 7-Zip failed.
    """
    stored = Path(stored)
    if stored.is_dir():
        path = stored / member
        if not path.is_file():
            raise InvalidInput(f"{stored.name} holds no {member}")
        return path.read_bytes()
    name = stored.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            inner = f"{name.removesuffix(suffix)}/{member}"
            break
    else:
        raise InvalidInput(f"unknown AIP archive type: {name}")
    if name.endswith(".7z"):
        with tempfile.TemporaryDirectory(prefix="custos-member-", dir=scratch_dir) as scratch:
            run(
                [seven_zip(), "x", "-bd", "-y", f"-o{scratch}", str(stored), inner],
                timeout=3600,
                check=True,
            )
            path = Path(scratch) / inner
            if not path.is_file():
                raise InvalidInput(f"{name} holds no {inner}")
            return path.read_bytes()
    try:
        with tarfile.open(stored, "r:*") as tar:
            fh = tar.extractfile(inner)
            if fh is None:
                raise InvalidInput(f"{name} holds no file {inner}")
            return fh.read()
    except KeyError as exc:
        raise InvalidInput(f"{name} holds no {inner}") from exc
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInput(f"cannot read {name}: {exc}") from exc
