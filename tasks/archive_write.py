"""Write a vetted :class:`~tasks.archive_members.Plan` into a :class:`~tasks.safefs.DirTree`.

zip and tar members are streamed by Python straight into files created relative to
the destination's descriptor (``O_EXCL | O_NOFOLLOW``). 7z packages are unpacked by
7-Zip into a private folder first (links and special files excluded by exact name,
the package and folders handed over as ``/dev/fd/N``); then only the members the
listing calls files and folders are moved into the destination, each checked to be
a regular file of the same inode, so a link 7-Zip might create is never moved nor
followed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from custos.errors import InvalidInput, ToolFailed
from custos.programs import run, seven_zip

from .archive_members import NotExtracted, Plan
from .safefs import DirTree, UnsafePath

_COPY_CHUNK = 1024 * 1024


@dataclass
class Written:
    """What a writer produced: regular files (relative parts, size), and what it skipped."""

    files: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    not_extracted: list[NotExtracted] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes written."""
        return sum(size for _, size in self.files)


def _refused(label: str, member: str, exc: UnsafePath) -> InvalidInput:
    return InvalidInput(
        f"{label}: member {member!r} cannot be written: {exc}; refused",
        details={"package": label, "member": member, "reason": exc.reason},
    )


def _copy(
    src: IO[bytes], tree: DirTree, parts: tuple[str, ...], limit: int, mtime: float | None
) -> int:
    written = 0
    with tree.create_file(parts) as out:
        while chunk := src.read(_COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise ValueError("larger than declared")
            out.write(chunk)
        out.flush()
        if mtime is not None:
            try:
                os.utime(out.fileno(), (mtime, mtime))
            except (OSError, OverflowError, ValueError):
                pass  # an absurd date in the package is not worth failing for
    return written


def _stream(
    plan: Plan,
    tree: DirTree,
    label: str,
    limit: int,
    opener: Callable[[object], IO[bytes]],
    mtime: Callable[[object], float | None],
) -> Written:
    out = Written(not_extracted=list(plan.not_extracted))
    for parts, member in plan.dirs:
        try:
            tree.dir_fd(parts, create=True)
        except UnsafePath as exc:
            raise _refused(label, member.name, exc) from exc
    budget = limit
    for parts, member in plan.files:
        try:
            with opener(member.ref) as src:
                size = _copy(src, tree, parts, min(budget, member.size), mtime(member.ref))
        except UnsafePath as exc:
            raise _refused(label, member.name, exc) from exc
        except ValueError as exc:
            raise InvalidInput(
                f"{label}: member {member.name!r} is larger than declared; refused",
                details={"package": label, "member": member.name, "reason": "size"},
            ) from exc
        budget -= size
        out.files.append((parts, size))
    return out


def _zip_mtime(info: object) -> float | None:
    assert isinstance(info, zipfile.ZipInfo)
    try:
        return dt.datetime(*info.date_time).timestamp()
    except (ValueError, OverflowError):
        return None


def write_zip(zf: zipfile.ZipFile, plan: Plan, tree: DirTree, label: str, limit: int) -> Written:
    """Stream a zip's planned members into ``tree`` (folders first, then files)."""
    return _stream(
        plan,
        tree,
        label,
        limit,
        lambda ref: zf.open(ref),  # type: ignore[arg-type]
        _zip_mtime,
    )


def write_tar(tf: tarfile.TarFile, plan: Plan, tree: DirTree, label: str, limit: int) -> Written:
    """Stream a tar's planned members into ``tree`` (folders first, then files)."""

    def opener(ref: object) -> IO[bytes]:
        assert isinstance(ref, tarfile.TarInfo)
        fh = tf.extractfile(ref)
        if fh is None:
            raise InvalidInput(f"{label}: member {ref.name!r} has no data; refused")
        return fh

    def mtime(ref: object) -> float | None:
        assert isinstance(ref, tarfile.TarInfo)
        return float(ref.mtime)

    return _stream(plan, tree, label, limit, opener, mtime)


def list_7z_text(package_fd: int, label: str) -> str:
    """``7zz l -slt -ba`` of the package behind ``package_fd``."""
    tool = seven_zip()
    result = run(
        [tool, "l", "-slt", "-ba", "-p-", "--", f"/dev/fd/{package_fd}"],
        timeout=600,
        pass_fds=(package_fd,),
    )
    if result.returncode != 0:
        raise ToolFailed(
            tool,
            result.returncode,
            (result.stderr or result.stdout).replace(f"/dev/fd/{package_fd}", label),
        )
    return result.stdout


def write_7z(
    package_fd: int, plan: Plan, tree: DirTree, scratch: DirTree, label: str, limit: int
) -> Written:
    """Unpack with 7-Zip into a private folder of ``scratch``, then move the plan over."""
    tool = seven_zip()
    private = f".custos-7z-{uuid.uuid4().hex[:12]}"
    scratch.mkdir_new((private,), 0o700)
    try:
        with scratch.subtree((private,)) as box:
            box.mkdir_new(("out",), 0o700)
            with box.subtree(("out",)) as unpacked:
                args = [tool, "x", "-y", "-bd", "-p-", "-spd", "-scsUTF-8"]
                fds = [package_fd, unpacked.fd]
                if plan.left_out:
                    with box.create_file(("exclude.txt",)) as lst:
                        lst.write(
                            "\n".join(m.name for m in plan.left_out).encode(
                                "utf-8", "surrogateescape"
                            )
                            + b"\n"
                        )
                    exclude = box.open_file(("exclude.txt",))
                    fds.append(exclude)
                    args.append(f"-x@/dev/fd/{exclude}")
                try:
                    result = run(
                        [*args, f"-o/dev/fd/{unpacked.fd}", "--", f"/dev/fd/{package_fd}"],
                        timeout=3600,
                        pass_fds=fds,
                    )
                finally:
                    if plan.left_out:
                        os.close(fds[-1])
                if result.returncode != 0:
                    raise ToolFailed(
                        tool,
                        result.returncode,
                        (result.stderr or result.stdout).replace(f"/dev/fd/{package_fd}", label),
                    )
                return _move_planned(plan, unpacked, tree, label, limit)
    finally:
        shutil.rmtree(private, dir_fd=scratch.fd, ignore_errors=True)


def _move_planned(plan: Plan, unpacked: DirTree, tree: DirTree, label: str, limit: int) -> Written:
    out = Written(not_extracted=list(plan.not_extracted))
    for parts, member in plan.dirs:
        try:
            tree.dir_fd(parts, create=True)
        except UnsafePath as exc:
            raise _refused(label, member.name, exc) from exc
    for parts, member in plan.files:
        try:
            found = unpacked.lstat(parts)
        except UnsafePath as exc:  # a parent 7-Zip made is not a folder: never followed
            raise _refused(label, member.name, exc) from exc
        if found is None:
            raise InvalidInput(
                f"{label}: 7-Zip did not extract member {member.name!r}; refused",
                details={"package": label, "member": member.name},
            )
        try:
            size = unpacked.move_file_to(parts, tree, parts)
        except UnsafePath as exc:
            if exc.reason == "is not a regular file" or exc.reason.startswith("is a symbolic"):
                out.not_extracted.append(
                    NotExtracted(
                        plan.package, member.name, "7-Zip wrote it as a link or special file"
                    )
                )
                continue
            raise _refused(label, member.name, exc) from exc
        limit -= size
        if limit < 0:
            raise InvalidInput(
                f"{label}: members larger than declared; refused",
                details={"package": label, "member": member.name},
            )
        out.files.append((parts, size))
    return out
