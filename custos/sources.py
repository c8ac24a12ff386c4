"""Browsing the transfer source locations (the console's folder tree).

``browse(location, relative)`` lists one folder of a transfer source location,
confined to it (``custos.storage.resolve_inside``: no ``..``, no symbolic link
leading out), folders first, at most ``MAX_ENTRIES`` entries. Each entry says
what a transfer of it would be (``guess_type``): a folder (standard), a bag, a
zip or other package (zipfile), a zipped bag; other files cannot be
transferred on their own.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from custos.errors import InvalidInput, NotFound
from custos.models import Location, LocationPurpose, TransferType
from custos.sniff import is_bag, package_kind
from custos.storage import get_location, list_locations, resolve_inside

MAX_ENTRIES = 500


@dataclass(frozen=True)
class Entry:
    """One entry of a source folder."""

    name: str
    relative: str
    is_dir: bool
    size: int | None
    transfer_type: TransferType | None  # None: not a transfer on its own


def source_locations() -> list[Location]:
    """Every transfer source location."""
    return list_locations(LocationPurpose.TRANSFER_SOURCE)


def _zipped_bag(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()[:2000]
    except (OSError, zipfile.BadZipFile):
        return False
    return any(
        PurePosixPath(n).name == "bagit.txt" and len(PurePosixPath(n).parts) <= 2 for n in names
    )


def guess_type(path: Path) -> TransferType | None:
    """The transfer type ``path`` makes (None: not transferable by itself)."""
    if path.is_symlink():
        return None
    if path.is_dir():
        return TransferType.BAG if is_bag(path) else TransferType.STANDARD
    kind = package_kind(path) if path.is_file() else None
    if kind is None:
        return None
    if kind == "zip" and _zipped_bag(path):
        return TransferType.ZIPPED_BAG
    return TransferType.ZIPFILE


def _source_location(location_uuid: str) -> Location:
    loc = get_location(location_uuid)
    if loc.purpose != LocationPurpose.TRANSFER_SOURCE:
        raise InvalidInput(f"location {location_uuid} is not a transfer source")
    return loc


def browse(location_uuid: str, relative: str = "") -> list[Entry]:
    """The entries of ``relative`` inside the transfer source ``location_uuid``."""
    loc = _source_location(location_uuid)
    folder = resolve_inside(Path(loc.path), relative or ".")
    if not folder.is_dir():
        raise NotFound(f"{relative or '/'} is not a folder of location {location_uuid}")
    entries = []
    root = Path(loc.path).resolve()
    try:
        scanned = sorted(os.scandir(folder), key=lambda e: (not e.is_dir(), e.name.lower()))
    except OSError as exc:
        raise NotFound(f"cannot read {relative or '/'}: {exc.strerror}") from exc
    for item in scanned[:MAX_ENTRIES]:
        if item.name.startswith(".") or item.is_symlink():
            continue
        path = Path(item.path)
        is_dir = item.is_dir(follow_symlinks=False)
        entries.append(
            Entry(
                name=item.name,
                relative=str(path.relative_to(root))
                if path.is_relative_to(root)
                else str(Path(relative or ".") / item.name),
                is_dir=is_dir,
                size=None if is_dir else item.stat(follow_symlinks=False).st_size,
                transfer_type=guess_type(path),
            )
        )
    return entries


def selected_type(location_uuid: str, relative: str) -> TransferType:
    """The type a transfer of ``relative`` makes; InvalidInput when it makes none."""
    loc = _source_location(location_uuid)
    path = resolve_inside(Path(loc.path), relative)
    if not path.exists():
        raise NotFound(f"{relative!r} does not exist in location {location_uuid}")
    kind = guess_type(path)
    if kind is None:
        raise InvalidInput(
            f"{relative!r} is neither a folder nor a package: it cannot be transferred"
        )
    return kind
