"""Extraction of packages (zip, tar, tar.gz/bz2/xz, 7z, nested ones) that cannot leave
its destination.

Archivematica's *Extract contents from compressed archives* unpacks each package
found in a transfer into ``<package file name>-<date>`` next to it, records an
*unpacking* event per extracted file (``Unpacked from: <package path>``), can
delete the package afterwards, and loops while extracted files are packages.

Packages come from outside. What a package may produce:

- **Regular files and folders only.** Symbolic links, hard links, device files,
  FIFOs and sockets are never created; each is listed in
  :attr:`ExtractResult.not_extracted` with its reason (``symbolic link to
  '../..'``), which the transfer shows in the task output and the *unpacking*
  events.
- **Names are vetted before anything is written** (``tasks.archive_members``):
  absolute names, ``..`` components, NUL bytes and encrypted members refuse the
  whole package. So do names that would land on the same place, and the message
  names both members: the same name twice (a folder listed twice is fine), a name
  that is a file or link in the package but a folder for another member (members
  *beneath* a link are how a link is written through), and names that differ only
  in letter case or Unicode normalization (``A.txt``/``a.txt``, NFC/NFD ``é``),
  which the case- or normalization-insensitive filesystems an AIP may be copied to
  would merge. Refusing is deterministic and loses nothing silently.
- **Every write is relative to an open directory** (``tasks.safefs``): each path
  component is opened with ``O_NOFOLLOW | O_DIRECTORY``, files are created with
  ``O_EXCL``, so a link appearing in the tree while we write is refused, never
  followed. 7-Zip unpacks into a private folder (links and special files excluded
  by name); only members the listing calls files and folders are moved over,
  each checked to be the same regular inode.
- **Limits** (:class:`ExtractLimits`): file count, total uncompressed size and
  compression ratio, across nested packages too (zip bombs).

Writing happens in a hidden folder next to the destination that is renamed into
place (never over an existing name) once everything, nested packages included,
succeeded; on any failure it is removed and the package is untouched.

Example::

    result = extract_package(objects / "photos.zip", limits=ExtractLimits(), delete=True)
    for item in result.files:
        item.path, item.package  # one *unpacking* event each
    for skipped in result.not_extracted:
        skipped.member, skipped.reason  # e.g. "symbolic link to '../x'"
"""

from __future__ import annotations

import datetime as dt
import errno
import lzma
import os
import shutil
import stat
import tarfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from custos.errors import InvalidInput, StorageError
from custos.faults import fault
from custos.programs import event_detail, tool_version
from custos.sniff import kind_by_name, kind_of_fd, package_kind

from .archive_members import (
    Budget,
    NotExtracted,
    list_tar,
    list_zip,
    parse_7z_listing,
    vet,
)
from .archive_write import Written, list_7z_text, seven_zip, write_7z, write_tar, write_zip
from .safefs import READ_FLAGS, DirTree, UnsafePath, rename_noreplace

__all__ = [
    "ExtractLimits",
    "ExtractResult",
    "ExtractedFile",
    "NotExtracted",
    "default_destination",
    "extract_package",
    "package_kind",
    "remove_leftovers",
]

_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


@dataclass(frozen=True)
class ExtractLimits:
    """Limits applied to one extraction, nested packages included (zip-bomb guard).

    The ratio (uncompressed / package size) is only enforced once the
    uncompressed total passes ``ratio_floor`` bytes, so small, very compressible
    text files do not trip it.
    """

    max_total_size: int = 50 * 1024**3
    max_files: int = 1_000_000
    max_ratio: float = 200.0
    max_depth: int = 5
    ratio_floor: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: object) -> ExtractLimits:
        """Build limits from ``custos.settings.Settings`` (``extract_*`` fields)."""
        return cls(
            max_total_size=int(getattr(settings, "extract_max_total_size", cls.max_total_size)),
            max_files=int(getattr(settings, "extract_max_files", cls.max_files)),
            max_ratio=float(getattr(settings, "extract_max_ratio", cls.max_ratio)),
            max_depth=int(getattr(settings, "extract_max_depth", cls.max_depth)),
        )


@dataclass(frozen=True)
class ExtractedFile:
    """A file that came out of a package (for the *unpacking* event)."""

    path: Path
    package: Path

    @property
    def event_detail(self) -> str:
        """Archivematica's wording: ``Unpacked from: <package path>``."""
        return f"Unpacked from: {self.package}"


@dataclass
class ExtractResult:
    """What one package extraction produced (nested packages included)."""

    package: Path
    destination: Path
    kind: str
    tool: str
    tool_version: str | None
    files: list[ExtractedFile] = field(default_factory=list)
    deleted_packages: list[Path] = field(default_factory=list)
    #: links and special files deliberately not created, with their reasons
    not_extracted: list[NotExtracted] = field(default_factory=list)
    #: nested packages deeper than ``max_depth``, kept as files
    left_packed: list[Path] = field(default_factory=list)

    @property
    def event_detail(self) -> str:
        """``program="7zz"; version="..."`` or ``program="python"; module="zipfile"``."""
        if self.tool in {"zipfile", "tarfile"}:
            return event_detail("python", None, module=self.tool)
        return event_detail(self.tool, self.tool_version)


def default_destination(package: Path, date: str | None = None) -> Path:
    """``<package file name>-<date>`` next to the package, as Archivematica names it."""
    return package.with_name(f"{package.name}-{_stamp(date)}")


def _stamp(date: str | None) -> str:
    return date or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class _Run:
    """One extraction in progress (the top package and its nested ones)."""

    limits: ExtractLimits
    budget: Budget
    scratch: DirTree  # the destination's parent: staging and 7-Zip's private folders
    final: Path
    top: str
    stamp: str
    delete: bool
    files: list[tuple[tuple[str, ...], tuple[str, ...] | None]] = field(default_factory=list)
    not_extracted: list[NotExtracted] = field(default_factory=list)
    left_packed: list[tuple[str, ...]] = field(default_factory=list)
    deleted: list[tuple[str, ...]] = field(default_factory=list)


def _unpack(run: _Run, fd: int, kind: str, label: str, where: Path, tree: DirTree) -> Written:
    """List, vet, account and write one package (read through ``fd``) into ``tree``."""
    size = os.fstat(fd).st_size
    try:
        if kind == "7z":
            members = parse_7z_listing(list_7z_text(fd, label), label)
            plan = vet(label, where, members)
            limit = run.budget.take(label, plan, size)
            return write_7z(fd, plan, tree, run.scratch, label, limit)
        with os.fdopen(os.dup(fd), "rb") as fh:
            fh.seek(0)
            if kind == "zip":
                with zipfile.ZipFile(fh) as zf:
                    plan = vet(label, where, list_zip(zf, label), backslash=True)
                    return write_zip(zf, plan, tree, label, run.budget.take(label, plan, size))
            with tarfile.open(fileobj=fh, mode="r:*") as tf:
                plan = vet(label, where, list_tar(tf, label, run.budget, size))
                return write_tar(tf, plan, tree, label, run.budget.take(label, plan, size))
    except UnsafePath as exc:
        raise InvalidInput(
            f"{label}: {exc}; refused", details={"package": label, "member": exc.path}
        ) from exc
    except OSError as exc:
        if exc.errno in _STORAGE_ERRNOS:
            raise StorageError(f"{label}: cannot write the extracted files: {exc}") from exc
        raise InvalidInput(
            f"{label}: unreadable package: {exc}", details={"package": label}
        ) from exc
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        NotImplementedError,
    ) as exc:
        raise InvalidInput(
            f"{label}: unreadable package: {exc}", details={"package": label}
        ) from exc


def _take(
    run: _Run, written: Written, prefix: tuple[str, ...], owner: tuple[str, ...] | None
) -> list[tuple[str, ...]]:
    paths = [prefix + parts for parts, _ in written.files]
    run.files += [(p, owner) for p in paths]
    run.not_extracted += written.not_extracted
    return paths


def _extract_nested(run: _Run, tree: DirTree, files: list[tuple[str, ...]], depth: int) -> None:
    """Extract every package among ``files`` (paths in ``tree``), depth first."""
    for parts in sorted(files):
        if kind_by_name(parts[-1]) is None:
            continue
        try:
            fd = tree.open_file(parts)
        except UnsafePath as exc:
            raise InvalidInput(f"{run.top}: {exc}; refused") from exc
        try:
            kind = kind_of_fd(parts[-1], fd)
            if kind is None:
                continue
            if depth >= run.limits.max_depth:
                run.left_packed.append(parts)
                continue
            dest = (*parts[:-1], f"{parts[-1]}-{run.stamp}")
            try:
                tree.mkdir_new(dest)
            except UnsafePath as exc:
                raise InvalidInput(
                    f"{run.top}: extraction destination already exists: {'/'.join(dest)}",
                    details={"package": run.top, "member": "/".join(dest)},
                ) from exc
            label = f"{'/'.join(parts)} (inside {run.top})"
            with tree.subtree(dest) as sub:
                written = _unpack(run, fd, kind, label, run.final.joinpath(*parts), sub)
        finally:
            os.close(fd)
        _extract_nested(run, tree, _take(run, written, dest, parts), depth + 1)
        if run.delete:
            tree.unlink(parts)
            run.deleted.append(parts)


def extract_package(
    package: str | Path,
    *,
    limits: ExtractLimits | None = None,
    destination: str | Path | None = None,
    date: str | None = None,
    delete: bool = False,
    recursive: bool = True,
    keep_package: bool = False,
) -> ExtractResult:
    """Extract one package (and, if ``recursive``, the packages inside it).

    ``destination`` defaults to ``<package name>-<date>`` next to the package.
    With ``delete``, the package (and nested packages) are removed after a
    successful extraction; ``keep_package`` keeps the package itself (its caller
    deletes it once the extraction is recorded, so a crash never loses both).
    Raises :class:`InvalidInput` for unsafe, ambiguous or oversized packages (the
    message names the package and member) and
    :class:`ToolFailed` when 7-Zip fails; in both cases nothing is left behind and
    the package is not modified.
    """
    src = Path(package)
    kind = package_kind(src)
    if kind is None:
        raise InvalidInput(f"{src.name}: not a supported package (zip, tar*, 7z)")
    lim = limits or ExtractLimits()
    stamp = _stamp(date)
    final = Path(destination) if destination else src.with_name(f"{src.name}-{stamp}")
    tool = seven_zip() if kind == "7z" else ("zipfile" if kind == "zip" else "tarfile")
    result = ExtractResult(src, final, kind, tool, tool_version(tool) if kind == "7z" else None)
    try:
        pkg_fd = os.open(src, READ_FLAGS)
    except OSError as exc:  # replaced by a link or removed since it was looked at
        raise InvalidInput(f"{src.name}: cannot open the package: {exc.strerror}") from exc
    os.set_blocking(pkg_fd, True)
    try:
        scratch = DirTree.open(final.parent)
    except OSError as exc:
        os.close(pkg_fd)
        raise StorageError(f"cannot open the folder {final.parent}: {exc.strerror}") from exc
    try:
        if scratch.lstat((final.name,)) is not None:
            raise InvalidInput(f"extraction destination already exists: {final}")
        budget = Budget(lim.max_total_size, lim.max_files, lim.max_ratio, lim.ratio_floor)
        run = _Run(lim, budget, scratch, final, src.name, stamp, delete)
        staging = f".{final.name}.extracting-{uuid.uuid4().hex[:8]}"
        scratch.mkdir_new((staging,), 0o700)
        try:
            with scratch.subtree((staging,)) as tree:
                written = _unpack(run, pkg_fd, kind, src.name, src, tree)
                fault("extract:writing")
                top = _take(run, written, (), None)
                if recursive:
                    _extract_nested(run, tree, top, 1)
                os.chmod(tree.fd, 0o755)
            try:
                rename_noreplace(scratch.fd, staging, scratch.fd, final.name)
            except FileExistsError as exc:
                raise InvalidInput(f"extraction destination already exists: {final}") from exc
        except BaseException:
            shutil.rmtree(staging, dir_fd=scratch.fd, ignore_errors=True)
            raise
        if delete and not keep_package:
            _unlink_same(src, os.fstat(pkg_fd))
    finally:
        os.close(pkg_fd)
        scratch.close()
    gone = set(run.deleted)
    for parts, owner in sorted(run.files):
        if parts not in gone:
            result.files.append(
                ExtractedFile(final.joinpath(*parts), final.joinpath(*owner) if owner else src)
            )
    result.not_extracted = run.not_extracted
    result.left_packed = [final.joinpath(*p) for p in run.left_packed]
    result.deleted_packages = ([src] if delete else []) + [final.joinpath(*p) for p in run.deleted]
    return result


def remove_leftovers(folder: Path) -> list[str]:
    """Remove what an interrupted extraction left in ``folder``; returns the names.

    Those are hidden (``.<destination>.extracting-<hex>`` staging folders and
    ``.custos-7z-<hex>`` private 7-Zip folders); removal never follows a link.
    """
    removed = []
    with DirTree.open(folder) as tree:
        for name, st in list(tree.entries()):
            ours = name.startswith(".custos-7z-") or (
                name.startswith(".") and ".extracting-" in name
            )
            if ours and stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=tree.fd)
                removed.append(name)
    return removed


def _unlink_same(path: Path, seen: os.stat_result) -> None:
    """Remove ``path`` only if it is still the file we extracted (not a swapped-in link)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return
    if (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino):
        path.unlink()
