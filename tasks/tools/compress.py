"""Package an AIP bag as configured: 7z (copy, bzip2, lzma), tar.gz, tar.bz2 or as is.

The archive holds the ``<name>-<uuid>/`` bag directory, as Archivematica's does, so
tools that look for ``<name>-<uuid>/data/METS.<uuid>.xml`` inside it keep working.
Levels default low on purpose: 7z's own default ``-mx=5`` runs at about 1 MB/s on
text and gzip level 9 is three times slower than 6 for a few percent, which for a
multi-GiB AIP is the difference between seconds and an hour. The archive's sha256
(for the pointer file and the store's verification) and the tool and version (for
the ``compression`` PREMIS event) are returned with it.

Usage::

    result = compress_aip(bag_dir, out_dir, method=Compression.SEVEN_Z_COPY)
    bag_dir = extract_aip(result.path, scratch_dir)
"""

from __future__ import annotations

import errno
import hashlib
import os
import platform
import tarfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from custos.errors import ConfigError, InvalidInput, StorageError, ToolFailed
from custos.faults import fault
from custos.programs import event_detail, run, seven_zip, tool_version

#: Generous: compressing a large AIP legitimately takes long, but never forever.
TIMEOUT = 24 * 3600.0


class Compression(StrEnum):
    """AIP packaging choices (Archivematica's "Select compression algorithm")."""

    SEVEN_Z_COPY = "7z-copy"
    SEVEN_Z_BZIP2 = "7z-bzip2"
    SEVEN_Z_LZMA = "7z-lzma"
    TAR_GZ = "tar.gz"
    TAR_BZ2 = "tar.bz2"
    UNCOMPRESSED = "none"


_EXTENSION = {
    Compression.SEVEN_Z_COPY: ".7z",
    Compression.SEVEN_Z_BZIP2: ".7z",
    Compression.SEVEN_Z_LZMA: ".7z",
    Compression.TAR_GZ: ".tar.gz",
    Compression.TAR_BZ2: ".tar.bz2",
}
_SEVEN_Z_CODEC = {
    Compression.SEVEN_Z_COPY: "Copy",
    Compression.SEVEN_Z_BZIP2: "BZip2",
    Compression.SEVEN_Z_LZMA: "LZMA2",
}
#: Default levels: fast ones (see module docstring); "copy" is always level 0.
DEFAULT_LEVEL = {Compression.TAR_GZ: 6, Compression.TAR_BZ2: 1}


@dataclass(frozen=True)
class CompressionResult:
    """The packaged AIP and what the ``compression`` event must say about it."""

    path: Path
    method: Compression
    level: int
    size: int
    sha256: str | None
    tool: str
    tool_version: str
    event_detail: str


def archive_name(bag_dir: Path, method: Compression) -> str:
    """File name of the packaged AIP: the bag name plus the method's extension."""
    return bag_dir.name + _EXTENSION.get(method, "")


def staging_path(target: Path) -> Path:
    """Where an archive is written before it takes its name (same extension: 7-Zip
    would append its own to a name without it)."""
    return target.with_name(f".writing-{target.name}")


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _level(method: Compression, level: int | None) -> int:
    if method in (Compression.SEVEN_Z_COPY, Compression.UNCOMPRESSED):
        return 0
    chosen = DEFAULT_LEVEL.get(method, 1) if level is None else level
    if not 1 <= chosen <= 9:
        raise ConfigError(f"compression level must be 1-9 for {method}, got {chosen}")
    return chosen


def compress_aip(
    bag_dir: Path, dest_dir: Path, *, method: Compression, level: int | None = None
) -> CompressionResult:
    """Package ``bag_dir`` into ``dest_dir`` with ``method`` (``UNCOMPRESSED``: no-op).

    For ``UNCOMPRESSED`` the result points at the bag directory itself, with its total
    payload size and no sha256 (a directory is verified as a bag, not by one digest).

    Raises:
        ConfigError: level outside 1-9.
        ToolFailed: 7-Zip missing or failing.
        StorageError: the archive exists already or cannot be written.
    """
    bag_dir = Path(bag_dir)
    method = Compression(method)
    chosen = _level(method, level)
    if not bag_dir.is_dir():
        raise InvalidInput(f"not an AIP directory: {bag_dir}", {"path": str(bag_dir)})
    if method is Compression.UNCOMPRESSED:
        size = sum(p.stat().st_size for p in bag_dir.rglob("*") if p.is_file())
        return CompressionResult(bag_dir, method, 0, size, None, "", "", "")
    target = Path(dest_dir) / archive_name(bag_dir, method)
    if target.exists():
        raise StorageError(f"archive already exists: {target}")
    # written under a staging name, then renamed: the final name is always a whole
    # archive (a crash leaves the staging file, removed by the next attempt)
    staging = staging_path(target)
    staging.unlink(missing_ok=True)  # 7-Zip would add to a leftover instead
    if method in _SEVEN_Z_CODEC:
        tool, version = _seven_zip(bag_dir, staging, method, chosen)
    else:
        tool, version = _tar(bag_dir, staging, method, chosen)
    fault("compress:written")
    staging.rename(target)
    detail = event_detail(tool, version, level=str(chosen), method=method.value)
    return CompressionResult(
        target, method, chosen, target.stat().st_size, _sha256(target), tool, version, detail
    )


def _seven_zip(bag_dir: Path, target: Path, method: Compression, level: int) -> tuple[str, str]:
    tool = seven_zip()
    args = [
        tool, "a", "-t7z", "-bd", "-y", f"-m0={_SEVEN_Z_CODEC[method]}", f"-mx={level}", "-mmt=2",
        str(target.resolve()), bag_dir.name,
    ]  # fmt: skip
    try:
        run(args, cwd=bag_dir.parent, timeout=TIMEOUT, check=True)
    except ToolFailed as exc:
        target.unlink(missing_ok=True)
        if "no space left on device" in exc.stderr.lower():  # said as an OSError would
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target)) from exc
        raise
    return tool, tool_version(tool) or "unknown"


def _member_written(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """tarfile's filter, called before each member is added: the earlier ones are
    written (a fault point there leaves a partial archive)."""
    if member.isfile():
        fault("compress:writing")
    return member


def _tar(bag_dir: Path, target: Path, method: Compression, level: int) -> tuple[str, str]:
    mode = "w:gz" if method is Compression.TAR_GZ else "w:bz2"
    try:
        with tarfile.open(target, mode, compresslevel=level) as tar:  # type: ignore[call-overload]
            tar.add(bag_dir, arcname=bag_dir.name, filter=_member_written)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise StorageError(f"cannot write {target}: {exc}") from exc
    return "python tarfile", platform.python_version()


def extract_aip(archive: Path, dest_dir: Path) -> Path:
    """Unpack a packaged AIP into ``dest_dir`` and return the bag directory inside it.

    Used to verify a stored archive as a bag. Tar members that would land outside
    ``dest_dir`` (absolute paths, ``..``, links out) are refused by tarfile's ``data``
    filter; the archive must hold exactly one top-level directory.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = archive.name
    try:
        if name.endswith(".7z"):
            run(
                [seven_zip(), "x", "-bd", "-y", f"-o{dest_dir}", str(archive)],
                timeout=TIMEOUT,
                check=True,
            )
        elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar")):
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(dest_dir, filter="data")
        else:
            raise InvalidInput(f"unknown AIP archive type: {name}", {"path": name})
    except (tarfile.TarError, OSError) as exc:
        raise InvalidInput(f"cannot extract {name}: {exc}", {"path": name}) from exc
    tops = list(dest_dir.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise InvalidInput(
            f"{name} should hold one AIP directory, found {sorted(p.name for p in tops)}",
            {"path": name},
        )
    return tops[0]
