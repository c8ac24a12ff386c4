"""Replace a stored AIP by a new version (reingest) so that its final name never goes empty.

The new version is first stored, verified and fsync'ed in the AIP's staging folder
``.reingest-<unit uuid>/`` inside the store. A journal (``replace.json``: the final
name and the new version's identity, digest and size) is then written and fsync'ed,
and only then are the two versions swapped:

- with ``renameat2(RENAME_EXCHANGE)`` (Linux; ext4, XFS, btrfs, tmpfs ...) in one
  atomic step, for a bag directory as for an archive: at every instant the final
  name holds the old or the new version;
- where the filesystem cannot exchange, an archive is swapped with ``os.replace``
  (atomic) and a directory in two renames: the old version into the staging folder
  (``.old-<final name>``), then the new one to the final name. A crash between the
  two leaves the final name empty until :func:`recover` (run by the resumed ingest
  or the store sweep) renames the new version, or else the old one, back in.

The caller's ``record`` (the Package row) runs after the swap and before the staging
folder is removed, so a journal left behind means "the row may still describe the
old version": :func:`recover` tells which version holds the final name and calls
``record`` when it is the new one. Everything on a staging folder happens under an
exclusive ``flock`` on it: the sweep skips one that is locked.

Usage::

    replace_aip(packaged.path, store_dir, sip_uuid, expected_sha256=packaged.sha256,
                record=lambda new: update_package_row(new))
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from custos.errors import StorageError

from . import aipstore

REINGEST_PREFIX = ".reingest-"
OLD_PREFIX = ".old-"
JOURNAL = "replace.json"
TAG_MANIFEST = "tagmanifest-sha256.txt"

#: Test hook: called with the name of each step of a replacement once it is done
#: (``staged``, ``journaled``, ``old-moved``, ``swapped``, ``recorded``); the crash
#: tests kill the process there.
after_step: Callable[[str], None] | None = None

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
#: errno values meaning "this kernel or filesystem cannot exchange".
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV}


class ExchangeUnsupported(OSError):
    """The platform or filesystem has no atomic exchange of two paths."""


@dataclass(frozen=True)
class Replacement:
    """The new version of an AIP, as the journal records it."""

    final: str
    identity: str | None
    sha256: str | None
    size: int

    @classmethod
    def load(cls, path: Path) -> Replacement | None:
        """The journal at ``path``; None when missing or incomplete (never written)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(raw["final"]), raw.get("identity"), raw.get("sha256"), int(raw["size"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _step(name: str) -> None:
    if after_step is not None:
        after_step(name)


def _libc_renameat2() -> Callable[..., int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _libc_renameat2()


def exchange(a: Path, b: Path) -> None:
    """Swap ``a`` and ``b`` in one atomic step (both must exist).

    Raises:
        ExchangeUnsupported: no ``renameat2`` or the filesystem refuses the flag.
        OSError: any other failure.
    """
    if _renameat2 is None:
        raise ExchangeUnsupported(errno.ENOSYS, "renameat2 is not available")
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE):
        err = ctypes.get_errno()
        if err in _NO_EXCHANGE:
            raise ExchangeUnsupported(err, os.strerror(err), str(a))
        raise OSError(err, os.strerror(err), str(a))


def identity(path: Path) -> str | None:
    """What tells two versions of one AIP apart: an archive's sha256, a bag directory's
    tag-manifest sha256 (it covers the payload manifest, so every byte of a bag that
    validates). None when ``path`` is missing or a directory without a tag manifest."""
    try:
        target = path / TAG_MANIFEST if path.is_dir() else path
        with target.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def staging_dir(store_dir: Path, owner: str) -> Path:
    """The staging folder of the unit ``owner``'s replacements in ``store_dir``."""
    return Path(store_dir) / f"{REINGEST_PREFIX}{owner}"


@contextmanager
def locked(staging: Path, *, create: bool = True, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on the staging folder; yields False (and holds nothing)
    when ``wait`` is off and someone else holds it, or the folder is gone and
    ``create`` is off. A folder removed by the previous holder is created again."""
    while True:
        if create:
            staging.mkdir(exist_ok=True)
        try:
            fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if create:
                continue
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(staging))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
        if not create:
            yield False
            return
    try:
        yield True
    finally:
        os.close(fd)


def _clear(staging: Path) -> None:
    """Empty a staging folder, its journal last, keeping the (locked) folder itself."""
    journal = staging / JOURNAL
    for entry in list(staging.iterdir()) if staging.is_dir() else []:
        if entry != journal:
            aipstore.remove(entry)
    if journal.exists():
        journal.unlink()
        aipstore.fsync_path(staging)


def discard(staging: Path) -> None:
    """Remove a staging folder (held locked by the caller), its journal last."""
    _clear(staging)
    shutil.rmtree(staging, ignore_errors=True)
    aipstore.fsync_path(staging.parent)


def _verifies_as(path: Path, new: Replacement) -> bool:
    if identity(path) != new.identity or new.identity is None:
        return False
    return aipstore.verify_stored_aip(path, new.sha256).outcome is aipstore.Outcome.PASS


def _rename_in(source: Path, final: Path) -> None:
    """Finish a version left in staging: fsync all of it, then rename it in."""
    aipstore.fsync_entry(source)
    os.rename(source, final)
    aipstore.fsync_path(final.parent)


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover` found: the journal (None: the swap never started), whether
    it had to give the final name a version, and whether the new version holds it."""

    journal: Replacement | None
    renamed: bool = False
    new_won: bool = False


def recover(staging: Path, record: Callable[[Replacement], None]) -> Recovered:
    """Finish what a crashed replacement left in ``staging`` (held locked by the caller).

    The final name is given a version if it has none (the new one when it verifies,
    else the old one), ``record`` is called when the new version holds the final name,
    and the staging folder is emptied.

    Raises:
        StorageError: the final name is empty and neither version is left.
    """
    new = Replacement.load(staging / JOURNAL)
    if new is None:  # crashed before the journal: the final name was never touched
        _clear(staging)
        return Recovered(None)
    final = staging.parent / new.final
    candidate, displaced = staging / new.final, staging / f"{OLD_PREFIX}{new.final}"
    renamed = not final.exists()
    if renamed:
        if candidate.exists() and _verifies_as(candidate, new):
            _rename_in(candidate, final)
        elif displaced.exists():
            _rename_in(displaced, final)
        else:
            raise StorageError(
                f"{new.final} is missing from its store and no version of "
                f"it is left in {staging.name}"
            )
    won = new.identity is not None and identity(final) == new.identity
    if won:
        record(new)
    _clear(staging)
    return Recovered(new, renamed, won)


def _journal(staging: Path, new: Replacement) -> None:
    tmp = staging / f"{JOURNAL}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(asdict(new), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, staging / JOURNAL)
    aipstore.fsync_path(staging)
    aipstore.fsync_path(staging.parent)


def _swap(candidate: Path, final: Path, displaced: Path) -> None:
    """Put ``candidate`` under ``final``; the old version ends in staging or is gone."""
    try:
        exchange(candidate, final)
    except ExchangeUnsupported:
        if candidate.is_dir():
            os.rename(final, displaced)
            aipstore.fsync_path(final.parent)
            _step("old-moved")
            os.rename(candidate, final)
        else:
            os.replace(candidate, final)
    aipstore.fsync_path(final.parent)
    aipstore.fsync_path(candidate.parent)
    _step("swapped")


def replace_aip(
    source: Path,
    store_dir: Path,
    owner: str,
    *,
    expected_sha256: str | None,
    record: Callable[[Replacement], None],
) -> Replacement | None:
    """Put the packaged AIP ``source`` in place of the stored one of the same name.

    Returns the new version's journal once it holds the final name and ``record`` has
    run; None when nothing is stored under the final name (there is nothing to replace:
    the caller stores it the ordinary way). Idempotent: a crashed attempt is recovered
    first, and a final name already holding the new version is only recorded.

    Raises:
        StorageError, FixityMismatch, InvalidInput: as :func:`tasks.aipstore.store_aip`.
    """
    source, store_dir = Path(source), Path(store_dir)
    final = store_dir / source.name
    try:
        return _replace(source, final, staging_dir(store_dir, owner), expected_sha256, record)
    except OSError as exc:
        raise StorageError(f"cannot replace {final.name} in {store_dir}: {exc}") from exc


def _replace(
    source: Path,
    final: Path,
    staging: Path,
    expected_sha256: str | None,
    record: Callable[[Replacement], None],
) -> Replacement | None:
    wanted = expected_sha256 if expected_sha256 and source.is_file() else identity(source)
    with locked(staging):
        recover(staging, record)
        if not final.exists():
            discard(staging)
            return None
        if wanted is not None and identity(final) == wanted:
            new = Replacement(final.name, wanted, expected_sha256, aipstore.stored_size(final))
            if not _verifies_as(final, new):
                raise StorageError(f"{final.name} is already in the store and does not verify")
            record(new)
            discard(staging)
            return new
        stored = aipstore.store_aip(source, staging, expected_sha256=expected_sha256)
        new = Replacement(final.name, identity(stored.path), stored.sha256, stored.size)
        _step("staged")
        _journal(staging, new)
        _step("journaled")
        _swap(stored.path, final, staging / f"{OLD_PREFIX}{final.name}")
        record(new)
        _step("recorded")
        discard(staging)
    return new
