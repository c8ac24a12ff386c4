"""Put an AIP into the AIP store so that a final name always means a verified AIP.

Storing is: copy to ``.tmp-<token>-<final name>`` inside the store, verify that copy
(bag validation for a directory, sha256 for an archive, against the digest computed
when it was written), fsync it, then rename it to the final name in one atomic step.
When the packaged AIP and the store share a filesystem the "copy" is a hard link (every
file of a bag linked): no byte is written twice, and the verification still reads every
byte back through the store's name before the rename; the processing side's names are
removed once the AIP is stored, so the store is left holding the only ones.
A crash at any point leaves at most a ``.tmp-*`` entry, never a partial AIP under its
final name; :func:`clean_leftovers` removes those or, when asked and the copy
verifies, fsyncs it and finishes the rename, touching only one AIP's leftovers or ones
that are old and not being stored by a live unit (stores run concurrently). It also
puts back an ``.old-<final name>`` left by an interrupted replacement of earlier
versions when the final name is empty, and removes it otherwise. Replacing a stored
AIP (reingest) is :mod:`tasks.aipreplace`. :func:`verify_stored_aip` is what the
fixity audit calls on a schedule. Reading a stored AIP (one file, a verified copy
out) and the AIP bag rules are the core's (:mod:`custos.stored_aips`).

Usage::

    stored = store_aip(packaged.path, store_dir, expected_sha256=packaged.sha256)
    check = verify_stored_aip(stored.path, stored.sha256)
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from custos import faults
from custos.errors import FixityMismatch, InvalidInput, StorageError, ToolFailed
from custos.faults import fault
from custos.stored_aips import (
    TMP_PREFIX,
    StoredAIP,
    copy_file_hashing,
    file_sha256,
    remove,
    verify_aip_bag,
)
from custos.stored_aips import token as _token
from tasks import space
from tasks.tools.compress import extract_aip

_TMP_RE = re.compile(r"^\.tmp-[0-9a-f]{8}-(?P<final>.+)$")
#: Leftovers of replacements: ``.old-<final name>`` (earlier versions) and the
#: ``.reingest-<unit uuid>/`` staging folders of :mod:`tasks.aipreplace`.
OLD_PREFIX, REINGEST_PREFIX = ".old-", ".reingest-"
LEFTOVER_PREFIXES = (TMP_PREFIX, OLD_PREFIX, REINGEST_PREFIX)
_CHUNK = 1 << 20
#: ``link()`` errors that mean "copy instead" (another filesystem, links not allowed).
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)
#: fsync threads and paths per work item (see ``_fsync_tree``).
FSYNC_WORKERS = 16
_FSYNC_BATCH = 32


class Outcome(StrEnum):
    """Outcome of a stored-AIP check, as the ``fixity check`` event records it."""

    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify_stored_aip`: outcome, problems, and the digest found."""

    path: Path
    outcome: Outcome
    problems: tuple[str, ...] = ()
    sha256: str | None = None


@dataclass
class Cleanup:
    """What a clean-up did to each leftover of a store: ``finished`` and ``restored``
    hold the final names given a version."""

    removed: list[Path] = field(default_factory=list)
    finished: list[Path] = field(default_factory=list)
    restored: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)

    def merge(self, other: Cleanup) -> Cleanup:
        for name in ("removed", "finished", "restored", "kept"):
            getattr(self, name).extend(getattr(other, name))
        return self


def fsync_path(path: Path) -> None:
    """fsync one file or directory (not what it contains)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_entry(path: Path) -> int:
    """fsync a file, or every file and directory of a tree; returns the files' bytes."""
    if path.is_dir() and not path.is_symlink():
        return _fsync_tree(path)
    fsync_path(path)
    return path.stat().st_size


def start_writeback(path: Path) -> threading.Thread:
    """Start writing a packaged AIP's bytes to the disk, in a background thread.

    Storing fsyncs the AIP before its rename, and on a busy disk that wait is most of
    the store. Started as soon as the AIP is packaged, the disk writes overlap its
    verification and the store's read-back instead of following them. The store's
    own fsync still decides durability (it waits for whatever is left), so a failure
    here changes nothing and is ignored.
    """

    def flush() -> None:
        try:
            fsync_entry(path)
        except OSError:
            pass  # moved or removed meanwhile: the store fsyncs what it stores

    thread = threading.Thread(target=flush, name=f"writeback-{path.name[:40]}", daemon=True)
    thread.start()
    return thread


def stored_size(path: Path) -> int:
    """Bytes of a stored AIP: the archive's size, or the sum of a bag's files."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _fsync_batch(paths: list[str]) -> int:
    """fsync each path; returns the total size of those that are regular files."""
    total = 0
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if stat.S_ISREG(st.st_mode):
            total += st.st_size
    return total


def _fsync_tree(root: Path, workers: int = FSYNC_WORKERS) -> int:
    """fsync every file and then every directory under ``root``; returns the files' bytes.

    Durability is the same as one fsync after the other (every file and every
    directory is fsync'ed before this returns, so before the caller's rename),
    but the calls run in a thread pool: an fsync waits on the disk with the GIL
    released, and several in flight let the filesystem commit them together in
    far fewer journal commits than 10,000 sequential ones.
    """
    files: list[str] = []
    dirs: list[str] = []
    for dirpath, _dirs, names in os.walk(root):
        dirs.append(dirpath)
        files.extend(os.path.join(dirpath, name) for name in names)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fsync") as pool:
        total = sum(pool.map(_fsync_batch, _batches(files)))
        list(pool.map(_fsync_batch, _batches(dirs)))
    return total


def _batches(paths: list[str], size: int = _FSYNC_BATCH) -> list[list[str]]:
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def _same_filesystem(source: Path, store_dir: Path) -> bool:
    """Whether ``source`` can be hard-linked into ``store_dir`` (one filesystem)."""
    try:
        return source.stat().st_dev == store_dir.stat().st_dev
    except OSError:
        return False


def _link_or_copy(src: str, dst: str) -> str:
    """``copytree``'s copy function on one filesystem: a hard link, else a copy."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        shutil.copy2(src, dst)
    return dst


def link_file_hashing(src: Path, dst: Path) -> str:
    """Put ``src`` at ``dst`` as a hard link (a copy where the filesystem refuses one) and
    return the sha256 of the bytes read back from ``dst``."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        return copy_file_hashing(src, dst)
    return file_sha256(dst)


def store_aip(
    source: Path,
    store_dir: Path,
    *,
    expected_sha256: str | None = None,
    token: Callable[[], str] = _token,
    verify: Callable[[Path], list[str]] | None = None,
    name: str | None = None,
    where: str = "the AIP store",
    point: str = "store",
) -> StoredAIP:
    """Copy a packaged AIP (archive file or bag directory) into ``store_dir`` safely.

    ``expected_sha256`` is the archive digest from :func:`tasks.tools.compress.compress_aip`;
    when it is None the source is hashed instead. The final name is ``name``, by
    default the source's.
    A directory's copy is validated as a bag, or by ``verify`` (its problems) when
    given: a DIP is stored the same way, checked against its source's digests.
    ``where`` names the store in a full-disk message; ``point`` is the step of the
    fault point reached while copying (``<point>:copying``, :mod:`custos.faults`).

    Raises:
        StorageError: the final name is taken, or the copy cannot be written.
        FixityMismatch: the stored archive's sha256 differs from the expected one.
        InvalidInput: the stored bag directory does not validate (``details`` lists why).
    """
    source, store_dir = Path(source), Path(store_dir)
    final = store_dir / (name or source.name)
    if final.exists():
        raise StorageError(f"an AIP named {final.name} is already stored")
    tmp = store_dir / f"{TMP_PREFIX}{token()}-{final.name}"
    needed = 0
    try:
        needed = space.tree_size(source)
        space.require_space(store_dir, needed, where)  # no copy bound to fail
        store_dir.mkdir(parents=True, exist_ok=True)
        linking = _same_filesystem(source, store_dir)
        if source.is_dir():
            shutil.copytree(source, tmp, symlinks=True, copy_function=_copier(point, linking))
            problems = (
                verify(tmp)
                if verify is not None
                else [p.message for p in verify_aip_bag(tmp).problems]
            )
            if problems:
                what = "does not match its source" if verify else "is not a valid bag"
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise InvalidInput(
                    f"stored copy of {final.name} {what}: {problems[0]}{more}", problems
                )
            size = _fsync_tree(tmp)
            digest = None
        else:
            if linking:
                digest = link_file_hashing(source, tmp)
                fault(f"{point}:copying")
            else:
                digest = _copy_file_hashing(source, tmp, point)
            expected = expected_sha256 or file_sha256(source)
            if digest != expected:
                raise FixityMismatch(str(final), "sha256", expected, digest)
            fsync_path(tmp)
            size = tmp.stat().st_size
        os.rename(tmp, final)
        fsync_path(store_dir)
    except BaseException as exc:
        remove(tmp)
        full = space.no_space(exc, store_dir, needed, where)
        if full is not None:
            raise full from exc
        if isinstance(exc, OSError):
            raise StorageError(f"cannot store {source.name} in {store_dir}: {exc}") from exc
        raise
    return StoredAIP(final, size, digest)


def _copier(point: str, linking: bool) -> Callable[[str, str], object]:
    """shutil.copytree's copy function (a hard link on one filesystem, else a copy),
    with the fault point after each file."""

    def copy(src: str, dst: str) -> object:
        done = _link_or_copy(src, dst) if linking else shutil.copy2(src, dst)
        fault(f"{point}:copying")
        return done

    return copy


def _copy_file_hashing(src: Path, dst: Path, point: str) -> str:
    """:func:`copy_file_hashing`; under a crash test (``CUSTOS_FAULT`` set) in chunks,
    with the fault point after the first, so a kill there leaves a partial copy."""
    if not os.environ.get(faults.ENV):
        return copy_file_hashing(src, dst)
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            fout.flush()
            fault(f"{point}:copying")
    return file_sha256(dst)


def leftovers(store_dir: Path, prefixes: tuple[str, ...] = LEFTOVER_PREFIXES) -> list[Path]:
    """The leftovers of a store: ``.tmp-*`` (interrupted or failed stores), ``.old-*``
    and ``.reingest-*`` (interrupted replacements)."""
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        return []
    return sorted(p for p in store_dir.iterdir() if p.name.startswith(prefixes))


#: How old a leftover must be before a store-wide clean-up may touch it.
DEFAULT_GRACE_SECONDS = 3600.0


def _newest_mtime(path: Path) -> float:
    """The latest modification time in a leftover: a copy still being written is
    recent even when its top directory is not."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirs, files in os.walk(path):
            for entry in (*dirs, *files):
                try:
                    newest = max(newest, (Path(dirpath) / entry).lstat().st_mtime)
                except FileNotFoundError:  # removed while we look: still busy
                    return time.time()
    return newest


def clean_leftovers(
    store_dir: Path,
    *,
    finish: bool = False,
    expected_sha256: Callable[[str], str | None] | None = None,
    name: str | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    in_use: Callable[[str], bool] | None = None,
) -> Cleanup:
    """Remove interrupted stores, or finish those that verify when ``finish`` is set;
    put back or remove ``.old-*`` versions. ``.reingest-*`` folders are left to
    :mod:`tasks.aipreplace` (they need the Package row).

    Other ingests may be writing their own ``.tmp-*`` copies into the same store at
    this very moment, so the scope is narrow:

    - with ``name`` (the AIP's final name), only that AIP's leftovers are touched: the
      ingest storing it calls this before storing again, and nobody else stores
      under that name;
    - without it (the reconciler's store-wide sweep), a leftover is touched only when
      ``in_use(final name)`` (when given) is false, i.e. no live unit is storing it,
      and (except an ``.old-*`` that is the only version left) nothing in it changed
      for ``grace_seconds``. Skipped ones are in ``Cleanup.kept``.

    A ``.tmp-*`` leftover is finished (fsync'ed, then renamed to its final name) only if
    nothing is stored under that name yet and it verifies: a directory as a full bag;
    an archive against the digest ``expected_sha256(final_name)`` returns (no digest
    known: it is removed, since nothing proves the copy complete). An ``.old-*`` whose
    final name is empty is fsync'ed and renamed back (``Cleanup.restored``): it is the
    stored version an interrupted replacement took out. Everything else in scope is
    removed.
    """
    result = Cleanup()
    now = time.time()
    store_dir = Path(store_dir)
    for entry in leftovers(store_dir, (TMP_PREFIX, OLD_PREFIX)):
        final = _final_of(entry)
        if name is not None:
            if final is None or final.name != name:
                continue
        else:
            if final is not None and in_use is not None and in_use(final.name):
                result.kept.append(entry)
                continue
            only_copy = (
                entry.name.startswith(OLD_PREFIX) and final is not None and not final.exists()
            )
            try:
                recent = now - _newest_mtime(entry) < grace_seconds
            except FileNotFoundError:
                continue  # gone already: its writer cleaned up
            if recent and not only_copy:
                result.kept.append(entry)
                continue
        if (
            final is not None
            and not final.exists()
            and (finish or entry.name.startswith(OLD_PREFIX))
            and _may_finish(entry, final, expected_sha256)
        ):
            fsync_entry(entry)
            os.rename(entry, final)
            fsync_path(store_dir)
            (result.restored if entry.name.startswith(OLD_PREFIX) else result.finished).append(
                final
            )
            continue
        remove(entry)
        result.removed.append(entry)
    return result


def _final_of(entry: Path) -> Path | None:
    """The final name a ``.tmp-*`` or ``.old-*`` leftover stands for."""
    if entry.name.startswith(OLD_PREFIX):
        rest = entry.name.removeprefix(OLD_PREFIX)
        return entry.with_name(rest) if rest else None
    match = _TMP_RE.match(entry.name)
    return entry.with_name(match.group("final")) if match else None


def _may_finish(
    entry: Path, final: Path, expected_sha256: Callable[[str], str | None] | None
) -> bool:
    """Whether a leftover verifies well enough to take the empty final name."""
    if entry.name.startswith(OLD_PREFIX):
        return True  # the version that was stored: the only one left
    digest = expected_sha256(final.name) if expected_sha256 else None
    if not (entry.is_dir() or digest is not None):
        return False
    return verify_stored_aip(entry, digest).outcome is Outcome.PASS


def verify_stored_aip(
    path: Path,
    expected_sha256: str | None = None,
    *,
    extract: bool = False,
    scratch_dir: Path | None = None,
) -> Verification:
    """Check a stored AIP for the fixity audit; never raises for a damaged AIP.

    A directory gets full bag validation. An archive gets its sha256 compared with
    ``expected_sha256`` (when given) and, with ``extract``, is unpacked to a temporary
    directory (under ``scratch_dir``, default the system's) and validated as a bag.
    """
    path = Path(path)
    if not path.exists():
        return Verification(path, Outcome.FAIL, (f"{path.name} does not exist",))
    if path.is_dir():
        report = verify_aip_bag(path)
        problems = tuple(p.message for p in report.problems)
        return Verification(path, Outcome.FAIL if problems else Outcome.PASS, problems)
    found = file_sha256(path)
    issues: list[str] = []
    if expected_sha256 is not None and found != expected_sha256:
        issues.append(f"sha256 mismatch for {path.name}: expected {expected_sha256}, found {found}")
    if extract and not issues:
        with tempfile.TemporaryDirectory(prefix="custos-verify-", dir=scratch_dir) as scratch:
            try:
                bag = extract_aip(path, Path(scratch))
            except (InvalidInput, ToolFailed) as exc:
                issues.append(str(exc))
            else:
                issues.extend(p.message for p in verify_aip_bag(bag).problems)
    return Verification(path, Outcome.FAIL if issues else Outcome.PASS, tuple(issues), found)
