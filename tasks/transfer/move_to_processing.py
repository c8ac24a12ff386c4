"""The transfer's first job: *Move to processing directory* (the copy into custody).

``custos.transfers.start_transfer`` only checks the source and records the unit, so
an API call or a command returns in milliseconds whatever the size; the copy is
this job, the first of Archivematica's *Verify transfer compliance* group, run by
the flow once the transfer is approved.

The source (a folder, or a package file) is copied into ``.<name>-<uuid>.copying``
beside the transfer's folder in the processing location, then renamed to
``<name>-<uuid>`` in one step, so the folder is either whole or absent. A run
interrupted mid-copy (process killed, machine restarted) leaves only the staging
folder, which the resumed run deletes before copying again.

The source is only read, and read through directory descriptors
(``custos.confined``): its path is opened one component at a time from ``/`` with
``O_NOFOLLOW``, and every entry below it relative to its already-opened folder, so
a folder or file swapped for a link between the check at start and the copy (a
transfer may wait for approval for days) is refused instead of followed, and
nothing outside the source is ever read into custody. Links inside a folder are
recreated as links, never followed (compliance then refuses them, naming each);
FIFOs, devices and sockets are refused by name instead of being opened.

Every file of 1 MiB or more is read back and hashed as it is copied, with the configured
checksum algorithm (a large file in a second thread, beside the copy), and the digests kept
for *Assign checksums and file sizes* (``tasks.transfer.copy_digests``): each file is
read once on its way into custody instead of once more for its checksum.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import shutil
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from custos.confined import MAX_DEPTH, kind_of, open_entry, opened_below, opened_dir, subdir
from custos.errors import InvalidInput, NotFound, StorageError
from custos.faults import fault
from custos.transfers import check_source
from tasks import space
from tasks.safefs import rename_noreplace

from .common import TransferContext, display_path, microservice
from .copy_digests import CopyDigests, remember

#: Read and write: the copy's bytes are read back to hash them.
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 8 * 1024 * 1024
#: Reads for hashing: a buffer that stays in the CPU's cache.
_READ = 1024 * 1024
#: Files from this size on are hashed by the copy; smaller ones are left to step 5, whose
#: thread pool reads many small files faster than one at a time here.
HASHED_FROM = 1024 * 1024
#: Files from this size on are hashed in a second thread while they are copied.
_PIPELINED = 64 * 1024 * 1024
GROUP = "Verify transfer compliance"
JOB = "Move to processing directory"


def staging_path(dest: Path) -> Path:
    """Where the copy is made before its one rename to ``dest``."""
    return dest.with_name(f".{dest.name}.copying")


@dataclass
class Copied:
    """What a copy brought in (for the job's output)."""

    files: int = 0
    size: int = 0


def source_of(ctx: TransferContext) -> Path:
    """The transfer's source, checked again now (it may have changed since it started)."""
    if not ctx.unit.source_path:
        raise NotFound(f"transfer {ctx.uuid} has no source to copy")
    src = Path(ctx.unit.source_path)
    if not src.exists() and not src.is_symlink():
        raise NotFound(f"the source {display_path(src)} no longer exists")
    if src.parent.resolve() != src.parent:
        raise InvalidInput(
            f"the source {display_path(src)} is now reached through a symbolic link; refused"
        )
    check_source(src, ctx.unit.transfer_type)
    return src


def copy_in(src: Path, dest: Path, digests: CopyDigests | None = None) -> Copied:
    """Copy ``src`` to ``dest`` (which must not exist) through the staging folder.

    With ``digests``, every file's bytes are hashed as they are written and recorded
    there (for step 5, ``tasks.transfer.copy_digests``).
    """
    staging = staging_path(dest)
    _remove(staging)  # an interrupted copy is redone from the start
    copied = Copied()
    try:
        with opened_dir(Path("/")) as root, opened_below(root, str(src).lstrip("/")) as opened:
            src_fd, st = opened
            staging.mkdir()
            with opened_dir(staging) as out_fd:
                if stat.S_ISDIR(st.st_mode):
                    _copy_folder(src_fd, out_fd, "", copied, digests)
                else:
                    _copy_file(src_fd, st, out_fd, src.name, copied, digests)
        parent = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            rename_noreplace(parent, staging.name, parent, dest.name)
        finally:
            os.close(parent)
    except OSError as exc:
        _remove(staging)
        if space.is_no_space(exc):
            raise space.NoSpace(
                space.message("the processing location", dest.parent, space.tree_size(src))
            ) from exc
        raise StorageError(f"cannot copy {display_path(src)} into processing: {exc}") from exc
    except BaseException:
        _remove(staging)
        raise
    return copied


def _copy_folder(
    src_fd: int,
    out_fd: int,
    shown: str,
    copied: Copied,
    digests: CopyDigests | None = None,
    depth: int = 0,
) -> None:
    """Copy the entries of an opened folder into an opened folder, following nothing."""
    if depth >= MAX_DEPTH:
        raise InvalidInput(f"{display_path(shown)}: folders nested more than {MAX_DEPTH} deep")
    for name in sorted(os.listdir(src_fd)):
        rel = f"{shown}/{name}" if shown else name
        mode = os.stat(name, dir_fd=src_fd, follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):  # recreated as it is, never followed
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=out_fd)
        elif stat.S_ISDIR(mode):
            child = open_entry(src_fd, name, display_path(rel), directory=True)
            try:
                os.mkdir(name, 0o755, dir_fd=out_fd)
                with subdir(out_fd, name, shown=display_path(rel)) as child_out:
                    _copy_folder(child, child_out, rel, copied, digests, depth + 1)
                    child_st = os.fstat(child)
                    os.utime(child_out, ns=(child_st.st_atime_ns, child_st.st_mtime_ns))
            finally:
                os.close(child)
        elif stat.S_ISREG(mode):
            child = open_entry(src_fd, name, display_path(rel))
            try:
                _copy_file(child, os.fstat(child), out_fd, name, copied, digests)
            finally:
                os.close(child)
        else:
            raise InvalidInput(
                f"{display_path(rel)}: the source holds a {kind_of(mode)}, not a regular "
                "file, folder or link; refused",
                details={"path": display_path(rel)},
            )


def _copy_file(
    src_fd: int,
    st: os.stat_result,
    out_fd: int,
    name: str,
    copied: Copied,
    digests: CopyDigests | None = None,
) -> None:
    """Copy an opened regular file to a new ``name`` (mode and times kept, as ``copy2``),
    hashing what is written when ``digests`` is given."""
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device swapped in after the listing
        raise InvalidInput(f"{display_path(name)} is a {kind_of(st.st_mode)}; refused")
    out = os.open(name, _NEW_FILE, 0o600, dir_fd=out_fd)
    try:
        hashed = digests is not None and st.st_size >= HASHED_FROM
        if digests is None or not hashed:
            _copy_bytes(src_fd, out, st.st_size)
        else:
            digest = _copy_hashing(src_fd, out, st.st_size, digests)
        os.fchmod(out, stat.S_IMODE(st.st_mode))
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        if digests is not None and hashed:
            digests.add(os.fstat(out), digest)
    finally:
        os.close(out)
    copied.files += 1
    copied.size += st.st_size
    fault("move-to-processing:copying")


def _copy_bytes(
    src_fd: int, out: int, size: int, copied: Callable[[int, int], None] | None = None
) -> None:
    """Copy a whole file between descriptors, in the kernel where it can; ``copied``
    is told each ``(start, end)`` range once it is in ``out``."""
    offset = 0
    step = _CHUNK if copied is not None else max(size, _CHUNK)
    try:
        while True:
            sent = os.copy_file_range(src_fd, out, max(size - offset, step), offset, offset)
            if sent == 0:
                return
            if copied is not None:
                copied(offset, offset + sent)
            offset += sent
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while chunk := os.pread(src_fd, _CHUNK, offset):  # the portable way, from where it stopped
        os.pwrite(out, chunk, offset)
        if copied is not None:
            copied(offset, offset + len(chunk))
        offset += len(chunk)


def _copy_hashing(src_fd: int, out: int, size: int, digests: CopyDigests) -> str | Future[str]:
    """Copy a whole file between descriptors (as ``_copy_bytes``); returns the digest of
    the bytes read back from ``out``, i.e. of what the copy put there.

    From ``_PIPELINED`` bytes on, a second thread reads back and hashes each range as
    soon as it is copied, while the kernel copies the next (both release the GIL), and
    the digest is a ``Future``: the copy does not wait for the hash, which goes on
    beside the next steps (the virus scan starts meanwhile) until step 5 needs it. One
    such hash runs at a time.
    """
    hasher = hashlib.new(digests.algorithm)
    if size < _PIPELINED:
        _copy_bytes(src_fd, out, size)
        _hash_range(out, 0, None, hasher, size)
        return hasher.hexdigest()
    digests.wait_pending()
    ranges: queue.Queue[tuple[int, int] | None] = queue.Queue()
    digest: Future[str] = Future()
    reader = os.dup(out)  # ``out`` is closed when the copy is done, not the hash

    def consume() -> None:
        try:
            while (item := ranges.get()) is not None:
                _hash_range(reader, item[0], item[1], hasher, item[1] - item[0])
            digest.set_result(hasher.hexdigest())
        except BaseException as exc:
            digest.set_exception(exc)
        finally:
            os.close(reader)

    threading.Thread(target=consume, name="copy-hash", daemon=True).start()
    try:
        _copy_bytes(src_fd, out, size, lambda start, end: ranges.put((start, end)))
    finally:
        ranges.put(None)
    return digest


def _hash_range(fd: int, start: int, end: int | None, hasher: Any, expected: int) -> None:
    """Feed ``hasher`` the bytes of ``fd`` from ``start`` to ``end`` (None: its end),
    read into one buffer sized for the ``expected`` bytes (a small file reads a small
    buffer: one read, then its end)."""
    buf = bytearray(min(_READ, expected + 1))
    view = memoryview(buf)
    offset = start
    while end is None or offset < end:
        want = len(buf) if end is None else min(len(buf), end - offset)
        n = os.preadv(fd, [view[:want]], offset)
        if not n:
            return
        hasher.update(view[:n])
        offset += n


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _move_to_processing(ctx: TransferContext) -> None:
    if not ctx.todo(JOB):
        return
    with ctx.recorder.job(ctx.uuid, GROUP, JOB) as job:
        dest = ctx.directory
        if dest.exists() or dest.is_symlink():  # copied by a run that stopped just after
            job.output = f"{dest.name} was already in processing"
            return
        digests = CopyDigests(ctx.settings.checksum_algorithm)
        copied = copy_in(source_of(ctx), dest, digests)
        remember(ctx.uuid, digests)  # step 5 reuses them instead of reading again
        fault("move-to-processing:renamed")
        job.output = (
            f"{copied.files} files ({copied.size} bytes) copied from "
            f"{display_path(ctx.unit.source_path or '')}"
        )


move_to_processing = task(name=JOB, cache_policy=NONE)(microservice(_move_to_processing))
