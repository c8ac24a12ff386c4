"""Read stored AIPs without changing them: where one is, one member's bytes, a stream.

A stored AIP is a bag directory or an archive (``.7z``, ``.tar``, ``.tar.gz``,
``.tar.bz2``) named after the bag. Drivers use this module to show and hand out an
AIP (the console's AIP page and download, ``custos aip show``); the store's writing
and verifying tools stay in ``tasks``.

Example::

    stored = stored_aip(uuid)
    mets = stored_aips.read_member(stored.path, f"data/METS.{uuid}.xml")
    for chunk in stream_aip(stored.path): ...
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from custos.db import session_scope
from custos.errors import NotFound
from custos.models import Location, Package, PackageStatus

ARCHIVE_SUFFIXES = (".7z", ".tar.gz", ".tgz", ".tar.bz2", ".tar")
CHUNK = 1 << 20
#: Seconds 7-Zip may take to extract one member (a METS of a very large AIP).
MEMBER_TIMEOUT = 3600


@dataclass(frozen=True)
class StoredAip:
    """A stored AIP's package row values, its location and where it is on disk."""

    uuid: str
    name: str
    path: Path
    size: int | None
    checksum: str | None
    checksum_type: str
    compression: str
    location_uuid: str
    location_path: str
    location_description: str

    @property
    def download_name(self) -> str:
        """The file name a download gets (a directory AIP is sent as a tar)."""
        return self.path.name if not self.path.is_dir() else f"{self.path.name}.tar"


def stored_aip(uuid: str, engine: Engine | None = None) -> StoredAip:
    """The STORED AIP ``uuid``.

    Raises:
        NotFound: no stored AIP has that uuid, or its location is gone.
    """
    with session_scope(engine) as s:
        pkg = s.get(Package, uuid)
        if pkg is None or pkg.package_type != "AIP" or pkg.status != PackageStatus.STORED:
            raise NotFound(f"no stored AIP {uuid}")
        loc = s.get(Location, pkg.location_uuid)
        if loc is None:
            raise NotFound(f"the location of AIP {uuid} is gone")
        return StoredAip(
            uuid=pkg.uuid,
            name=pkg.name,
            path=Path(loc.path) / pkg.path,
            size=pkg.size,
            checksum=pkg.checksum,
            checksum_type=pkg.checksum_type,
            compression=pkg.compression,
            location_uuid=loc.uuid,
            location_path=loc.path,
            location_description=loc.description,
        )


def _tar_info(path: Path, arcname: str) -> tarfile.TarInfo:
    st = path.stat()
    info = tarfile.TarInfo(arcname)
    info.mode, info.mtime = st.st_mode & 0o7777, int(st.st_mtime)
    if path.is_dir():
        info.type, info.size = tarfile.DIRTYPE, 0
    else:
        info.type, info.size = tarfile.REGTYPE, st.st_size
    return info


def _stream_dir(bag: Path) -> Iterator[bytes]:
    """The bag directory as an uncompressed (PAX) tar, each file read as it is sent.

    Symbolic links are left out (a bag holds none; none is followed out of the store).
    """
    sent = 0
    for path in sorted([bag, *bag.rglob("*")]):
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue
        arcname = (Path(bag.name) / path.relative_to(bag)).as_posix()
        info = _tar_info(path, arcname)
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield header
        sent += len(header)
        if info.type == tarfile.REGTYPE:
            written = 0
            for chunk in _stream_file(path):
                chunk = chunk[: info.size - written]  # a file growing meanwhile
                written += len(chunk)
                yield chunk
            if written < info.size:  # a file shrinking meanwhile: keep the tar sound
                yield bytes(info.size - written)
            pad = -info.size % tarfile.BLOCKSIZE
            yield bytes(pad)
            sent += info.size + pad
    end = 2 * tarfile.BLOCKSIZE
    yield bytes(end + (-(sent + end) % tarfile.RECORDSIZE))


def _stream_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def stream_aip(path: Path) -> Iterator[bytes]:
    """The stored AIP's bytes in chunks: the archive as stored, a directory as tar.

    Raises:
        NotFound: the AIP is missing from its store.
    """
    if not path.exists():
        raise NotFound(f"the stored AIP {path.name} is missing from its store")
    return _stream_dir(path) if path.is_dir() else _stream_file(path)
