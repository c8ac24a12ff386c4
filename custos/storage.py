"""Storage locations: folders with a purpose, and safe paths inside them.

Every user-supplied path is resolved inside its location (``resolve_inside``);
``..``, absolute paths and symlinks that lead outside are refused. Archivematica
clients name sources as base64 of ``<location uuid>:<relative path>``
(``decode_location_path``).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import InvalidInput, NotFound, StorageError
from custos.models import Location, LocationPurpose
from custos.settings import Settings, get_settings

DEFAULT_FOLDERS = {
    LocationPurpose.TRANSFER_SOURCE: ("transfer-source", "Default transfer source"),
    LocationPurpose.CURRENTLY_PROCESSING: ("processing", "Currently processing"),
    LocationPurpose.AIP_STORAGE: ("aip-store", "Default AIP store"),
    LocationPurpose.DIP_STORAGE: ("dip-store", "Default DIP store"),
    LocationPurpose.BACKLOG: ("backlog", "Transfer backlog"),
}


def resolve_inside(root: Path, relative: str | os.PathLike[str]) -> Path:
    """``root / relative``, refusing anything that ends up outside ``root``."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise InvalidInput(f"path {str(relative)!r} must be relative and stay inside its location")
    root_real = root.resolve()
    target = (root_real / rel).resolve()
    if target != root_real and not target.is_relative_to(root_real):
        raise InvalidInput(f"path {str(relative)!r} leaves its location")
    return target


def decode_location_path(encoded: str) -> tuple[str | None, str]:
    """Split Archivematica's base64 ``<location uuid>:<path>`` (or a bare base64 path)."""
    try:
        raw = base64.b64decode(encoded, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("path cannot be decoded") from exc
    if not raw:
        raise InvalidInput("path cannot be decoded")
    head, sep, tail = raw.partition(":")
    if sep and len(head) == 36 and head.count("-") == 4:
        return head, tail
    return None, raw


def ensure_default_locations(
    settings: Settings | None = None, engine: Engine | None = None
) -> list[Location]:
    """Create the home's default folders and location rows where missing."""
    settings = settings or get_settings()
    created: list[Location] = []
    with session_scope(engine or get_engine()) as s:
        for purpose, (folder, description) in DEFAULT_FOLDERS.items():
            path = settings.locations_root / folder
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create location folder {path}: {exc}") from exc
            existing = s.exec(
                select(Location).where(
                    col(Location.purpose) == purpose, col(Location.is_default).is_(True)
                )
            ).first()
            if existing is None:
                loc = Location(
                    purpose=purpose,
                    path=str(path),
                    description=description,
                    is_default=True,
                    watched=purpose == LocationPurpose.TRANSFER_SOURCE,
                    watch_options={
                        "subfolder": "watched",
                        "type": "standard",
                        "processing_config": "automated",
                    }
                    if purpose == LocationPurpose.TRANSFER_SOURCE
                    else {},
                )
                s.add(loc)
                created.append(loc)
        if created:
            (settings.locations_root / "transfer-source" / "watched").mkdir(exist_ok=True)
    return created


def get_location(uuid: str, engine: Engine | None = None) -> Location:
    with session_scope(engine or get_engine()) as s:
        loc = s.get(Location, uuid)
        if loc is None:
            raise NotFound(f"location {uuid} does not exist")
        return loc


def default_location(purpose: LocationPurpose, engine: Engine | None = None) -> Location:
    """The default location for a purpose (the first one when none is marked)."""
    with session_scope(engine or get_engine()) as s:
        rows = s.exec(
            select(Location)
            .where(col(Location.purpose) == purpose)
            .order_by(col(Location.is_default).desc(), col(Location.created_at))
        ).all()
        if not rows:
            raise NotFound(f"no {purpose.value} location is configured (run `custos init`)")
        return rows[0]


def list_locations(
    purpose: LocationPurpose | None = None, engine: Engine | None = None
) -> list[Location]:
    with session_scope(engine or get_engine()) as s:
        q = select(Location).order_by(col(Location.purpose), col(Location.created_at))
        if purpose is not None:
            q = q.where(col(Location.purpose) == purpose)
        return list(s.exec(q).all())


def add_location(
    purpose: LocationPurpose,
    path: Path,
    description: str = "",
    *,
    default: bool = False,
    engine: Engine | None = None,
) -> Location:
    """Register an existing, writable folder as a location."""
    path = path.expanduser().absolute()
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a folder")
    if purpose != LocationPurpose.TRANSFER_SOURCE and not os.access(path, os.W_OK):
        raise InvalidInput(f"{path} is not writable")
    with session_scope(engine or get_engine()) as s:
        if default:
            for other in s.exec(select(Location).where(col(Location.purpose) == purpose)):
                other.is_default = False
        loc = Location(purpose=purpose, path=str(path), description=description, is_default=default)
        s.add(loc)
        return loc


def source_path(
    encoded_or_plain: str,
    *,
    encoded: bool = True,
    field: str = "path",
    engine: Engine | None = None,
) -> tuple[Location, Path]:
    """Resolve a transfer source given as AM base64 (or plain ``uuid:path``).

    The location must be a transfer source (a bare path means the default one),
    and the path must name something inside it: not empty, not the location itself,
    no ``..``, no absolute path outside the location (Archivematica clients send the
    absolute path inside it, which is accepted), and no link leading out of it or into
    another location (a processing folder or AIP store nested in a transfer source).
    Every refusal names ``field``, the client's input.
    """
    if encoded:
        try:
            loc_uuid, rel = decode_location_path(encoded_or_plain)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{field}: cannot be decoded (expected base64 of <location uuid>:<path>)",
                {"field": field},
            ) from exc
    else:
        head, sep, tail = encoded_or_plain.partition(":")
        loc_uuid, rel = (head, tail) if sep and len(head) == 36 else (None, encoded_or_plain)
    loc = _transfer_source(loc_uuid, field, engine)
    root = Path(loc.path)
    if "\0" in rel:
        raise InvalidInput(f"{field}: the path contains a NUL character", {"field": field})
    if Path(rel).is_absolute():
        if not Path(rel).is_relative_to(root):
            raise InvalidInput(
                f"{field}: {rel!r} is an absolute path outside location {loc.uuid}",
                {"field": field},
            )
        rel = os.path.relpath(rel, root)  # an absolute path inside the location is accepted
    if not [p for p in Path(rel).parts if p != "."]:
        raise InvalidInput(
            f"{field}: the path inside location {loc.uuid} is empty; name a folder or file in it",
            {"field": field},
        )
    try:
        target = resolve_inside(root, rel)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.message}", {"field": field}) from exc
    if target == root.resolve():
        raise InvalidInput(
            f"{field}: {rel!r} names the whole location {loc.uuid}; name a folder or file in it",
            {"field": field},
        )
    other = _inside_other_location(target, loc, engine)
    if other is not None:
        raise InvalidInput(
            f"{field}: {rel!r} lies inside location {other.uuid} "
            f"({LocationPurpose(other.purpose).value}), not a transfer source",
            {"field": field},
        )
    if not target.exists():
        raise NotFound(f"{field}: {rel!r} does not exist in location {loc.uuid}")
    return loc, target


def _transfer_source(loc_uuid: str | None, field: str, engine: Engine | None) -> Location:
    """The named location, refused unless it is a transfer source (default: the default)."""
    if not loc_uuid:
        return default_location(LocationPurpose.TRANSFER_SOURCE, engine)
    with session_scope(engine or get_engine()) as s:
        loc = s.get(Location, loc_uuid)
    if loc is None:
        raise InvalidInput(
            f"{field}: location {loc_uuid} is not associated with this pipeline", {"field": field}
        )
    if loc.purpose != LocationPurpose.TRANSFER_SOURCE:
        raise InvalidInput(
            f"{field}: location {loc_uuid} is not a transfer source (its "
            f"purpose is {LocationPurpose(loc.purpose).value})",
            {"field": field},
        )
    return loc


def _inside_other_location(
    target: Path, source: Location, engine: Engine | None
) -> Location | None:
    """A location other than ``source`` (and not a transfer source) holding ``target``."""
    for loc in list_locations(engine=engine):
        if loc.uuid == source.uuid or loc.purpose == LocationPurpose.TRANSFER_SOURCE:
            continue
        other = Path(loc.path).resolve()
        if target == other or target.is_relative_to(other):
            return loc
    return None


def processing_directory(current_path: str | None, engine: Engine | None = None) -> Path:
    """A unit's working directory, guaranteed to lie inside the processing location.

    Flows move, rename and delete this directory, so an empty or stray path (which
    would otherwise mean the process's working directory) is refused outright.
    """
    if not current_path:
        raise StorageError("the unit has no working directory")
    root = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING, engine).path).resolve()
    path = Path(current_path)
    if not path.is_absolute():
        path = root / path
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise StorageError(f"{path} is not inside the processing location {root}")
    return path
