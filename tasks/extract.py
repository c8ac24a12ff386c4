"""Safe extraction of packages (zip, tar, tar.gz/bz2/xz, 7z), nested ones included.

Archivematica's *Extract contents from compressed archives* unpacks each package
found in a transfer into ``<package file name>-<date>`` next to it, records an
*unpacking* event per extracted file (``Unpacked from: <package path>``), can
delete the package afterwards, and loops while extracted files are packages.

Packages come from outside, so every member is vetted from the archive's
listing *before* anything is written: absolute names, ``..`` escapes, links
pointing outside the destination, device files and FIFOs are refused, and the
file count, total uncompressed size and compression ratio are checked against
:class:`ExtractLimits` (zip bombs). Writing happens in a hidden temporary
directory that is renamed into place only when everything (nested packages
included) succeeded; on any failure it is removed and the source is untouched.

Example::

    result = extract_package(objects / "photos.zip", limits=ExtractLimits(), delete=True)
    for item in result.files:
        item.path, item.package  # one *unpacking* event each
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import tarfile
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from custos.errors import InvalidInput, ToolFailed

from .toolrun import event_detail, run, tool_version, which
from .walk import walk_files

_SUFFIXES: dict[str, str] = {
    ".zip": "zip",
    ".tar": "tar",
    ".tar.gz": "tar",
    ".tgz": "tar",
    ".tar.bz2": "tar",
    ".tbz2": "tar",
    ".tbz": "tar",
    ".tar.xz": "tar",
    ".txz": "tar",
    ".7z": "7z",
}
_7Z_MAGIC = b"7z\xbc\xaf\x27\x1c"
_COPY_CHUNK = 1024 * 1024


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
class Member:
    """One archive entry as listed, before extraction."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "special"
    size: int
    link: str | None = None


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
    not_extracted: list[Path] = field(default_factory=list)  # nested beyond max_depth

    @property
    def event_detail(self) -> str:
        """``program="7zz"; version="..."`` or ``program="python"; module="zipfile"``."""
        if self.tool in {"zipfile", "tarfile"}:
            return event_detail("python", None, module=self.tool)
        return event_detail(self.tool, self.tool_version)


def package_kind(path: str | Path) -> str | None:
    """``"zip"``, ``"tar"`` or ``"7z"`` when ``path`` is a package we extract, else None.

    Decided by extension *and* content, so an ``.docx`` (a zip inside) or a
    mislabeled text file is not treated as a package.
    """
    p = Path(path)
    name = p.name.lower()
    kind = next((k for s, k in _SUFFIXES.items() if name.endswith(s) and name != s), None)
    if kind is None or not p.is_file() or p.is_symlink():
        return None
    try:
        if kind == "zip":
            return kind if zipfile.is_zipfile(p) else None
        if kind == "tar":
            return kind if tarfile.is_tarfile(p) else None
        with open(p, "rb") as fh:
            return kind if fh.read(6) == _7Z_MAGIC else None
    except OSError:
        return None


def default_destination(package: Path, date: str | None = None) -> Path:
    """``<package file name>-<date>`` next to the package, as Archivematica names it."""
    stamp = date or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return package.with_name(f"{package.name}-{stamp}")


# --------------------------------------------------------------------------- listing


def _list_zip(path: Path) -> list[Member]:
    members = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.flag_bits & 0x1:
                raise InvalidInput(f"{path.name}: encrypted member {info.filename!r} refused")
            mode = info.external_attr >> 16
            if info.is_dir():
                kind = "dir"
            elif stat.S_ISLNK(mode):
                kind = "symlink"
            elif mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
                kind = "special"
            else:
                kind = "file"
            link = zf.read(info).decode("utf-8", "replace") if kind == "symlink" else None
            members.append(Member(info.filename, kind, info.file_size, link))
    return members


def _list_tar(path: Path, budget: _Budget, package_size: int) -> list[Member]:
    members = []
    with tarfile.open(path, "r:*") as tf:
        for info in tf:
            if info.isdir():
                kind = "dir"
            elif info.issym():
                kind = "symlink"
            elif info.islnk():
                kind = "hardlink"
            elif info.isreg():
                kind = "file"
            else:
                kind = "special"
            size = info.size if kind == "file" else 0
            member = Member(info.name, kind, size, info.linkname or None)
            members.append(member)
            # Check as we go: a compressed tar is listed by decompressing it.
            budget.check_running(path, members, package_size)
    return members


def _list_7z(path: Path) -> list[Member]:
    tool = _seven_zip()
    result = run([tool, "l", "-slt", "-ba", "-p-", "--", str(path)], timeout=600)
    if result.returncode != 0:
        raise ToolFailed(tool, result.returncode, result.stderr or result.stdout)
    members = []
    for block in result.stdout.split("\n\n"):
        fields = dict(
            line.split(" = ", 1) for line in block.splitlines() if " = " in line
        )
        if "Path" not in fields:
            continue
        if fields.get("Encrypted") == "+":
            raise InvalidInput(f"{path.name}: encrypted member {fields['Path']!r} refused")
        attrs = fields.get("Attributes", "")
        unix = attrs.split(" ", 1)[1] if " " in attrs else ""
        if attrs.startswith("D") or unix.startswith("d") or fields.get("Folder") == "+":
            kind = "dir"
        elif unix.startswith("l"):
            kind = "symlink"
        elif unix and unix[0] not in "-":
            kind = "special"
        else:
            kind = "file"
        size = int(fields.get("Size") or 0)
        members.append(Member(fields["Path"], kind, size))
    return members


def _seven_zip() -> str:
    for name in ("7zz", "7z"):
        if which(name):
            return name
    raise ToolFailed("7zz", 127, "7zz/7z is not installed: cannot extract 7z packages")


# --------------------------------------------------------------------------- checks


@dataclass
class _Budget:
    """Running totals across a whole (nested) extraction."""

    limits: ExtractLimits
    files: int = 0
    size: int = 0

    def check_running(self, package: Path, members: list[Member], package_size: int) -> None:
        files = self.files + sum(1 for m in members if m.kind != "dir")
        size = self.size + sum(m.size for m in members)
        self._check(package, files, size, package_size)

    def _check(self, package: Path, files: int, size: int, package_size: int) -> None:
        lim = self.limits
        if files > lim.max_files:
            raise InvalidInput(
                f"{package.name}: more than {lim.max_files} files to extract; refused",
                details={"package": str(package), "limit": "max_files", "value": files},
            )
        if size > lim.max_total_size:
            raise InvalidInput(
                f"{package.name}: uncompressed size {size} bytes exceeds the limit of "
                f"{lim.max_total_size} bytes; refused (possible zip bomb)",
                details={"package": str(package), "limit": "max_total_size", "value": size},
            )
        if size >= lim.ratio_floor and size > lim.max_ratio * max(package_size, 1):
            ratio = size / max(package_size, 1)
            raise InvalidInput(
                f"{package.name}: compression ratio {ratio:.0f}:1 exceeds {lim.max_ratio:g}:1; "
                "refused (possible zip bomb)",
                details={"package": str(package), "limit": "max_ratio", "value": ratio},
            )

    def take(self, package: Path, members: list[Member], package_size: int) -> None:
        self.check_running(package, members, package_size)
        self.files += sum(1 for m in members if m.kind != "dir")
        self.size += sum(m.size for m in members)


def _safe_parts(package: Path, name: str) -> tuple[str, ...]:
    """The member's path components, refusing anything that could leave the destination."""
    if not name or "\0" in name:
        raise InvalidInput(f"{package.name}: empty or NUL-containing member name refused")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise InvalidInput(
            f"{package.name}: absolute member path {name!r} refused",
            details={"package": str(package), "member": name, "reason": "absolute path"},
        )
    parts = tuple(p for p in PurePosixPath(unified).parts if p not in ("", "."))
    if ".." in parts:
        raise InvalidInput(
            f"{package.name}: member {name!r} escapes the destination ('..'); refused",
            details={"package": str(package), "member": name, "reason": "path traversal"},
        )
    return parts


def _vet(package: Path, members: list[Member]) -> None:
    names = {m.name.rstrip("/") for m in members}
    for m in members:
        parts = _safe_parts(package, m.name)
        if m.kind == "special":
            raise InvalidInput(
                f"{package.name}: device/FIFO member {m.name!r} refused",
                details={"package": str(package), "member": m.name, "reason": "special file"},
            )
        if m.kind in {"symlink", "hardlink"}:
            link = (m.link or "").replace("\\", "/")
            base = parts[:-1] if m.kind == "symlink" else ()
            target = PurePosixPath(*base, link) if link else None
            depth = 0
            escapes = target is None or link.startswith("/")
            for part in (target.parts if target else ()):
                depth += -1 if part == ".." else (0 if part == "." else 1)
                escapes = escapes or depth < 0
            if m.kind == "hardlink" and not escapes and link.rstrip("/") not in names:
                escapes = True
            if escapes:
                raise InvalidInput(
                    f"{package.name}: {m.kind} {m.name!r} -> {m.link!r} points outside the "
                    "package; refused",
                    details={"package": str(package), "member": m.name, "reason": "link escape"},
                )


# --------------------------------------------------------------------------- writing


def _write_zip(path: Path, dest: Path, budget_left: int) -> None:
    written = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            parts = _safe_parts(path, info.filename)
            if not parts:
                continue
            target = dest.joinpath(*parts)
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                os.symlink(zf.read(info).decode("utf-8"), target)
                continue
            with zf.open(info) as src, open(target, "xb") as out:
                while chunk := src.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > budget_left:  # declared sizes lied
                        raise InvalidInput(f"{path.name}: members larger than declared; refused")
                    out.write(chunk)


def _write_tar(path: Path, dest: Path) -> None:
    with tarfile.open(path, "r:*") as tf:
        # Our own vetting ran already; the "data" filter is defence in depth.
        tf.extractall(dest, filter="data")


def _write_7z(path: Path, dest: Path) -> None:
    tool = _seven_zip()
    result = run([tool, "x", "-y", "-p-", f"-o{dest}", "--", str(path)], timeout=3600)
    if result.returncode != 0:
        raise ToolFailed(tool, result.returncode, result.stderr or result.stdout)


def _unpack(package: Path, dest: Path, kind: str, budget: _Budget) -> None:
    size = package.stat().st_size
    try:
        if kind == "zip":
            members = _list_zip(package)
        elif kind == "tar":
            members = _list_tar(package, budget, size)
        else:
            members = _list_7z(package)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"{package.name}: unreadable package: {exc}") from exc
    _vet(package, members)
    before = budget.size
    budget.take(package, members, size)
    dest.mkdir(parents=True)
    try:
        if kind == "zip":
            _write_zip(package, dest, budget.size - before)
        elif kind == "tar":
            _write_tar(package, dest)
        else:
            _write_7z(package, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"{package.name}: extraction failed: {exc}") from exc
    actual = sum(p.stat().st_size for p in walk_files(dest))
    if actual > budget.size - before:
        raise InvalidInput(f"{package.name}: extracted more bytes than declared; refused")


def extract_package(
    package: str | Path,
    *,
    limits: ExtractLimits | None = None,
    destination: str | Path | None = None,
    date: str | None = None,
    delete: bool = False,
    recursive: bool = True,
) -> ExtractResult:
    """Extract one package (and, if ``recursive``, the packages inside it).

    ``destination`` defaults to ``<package name>-<date>`` next to the package.
    With ``delete``, the package (and nested packages) are removed after a
    successful extraction. Raises :class:`InvalidInput` for unsafe or oversized
    packages and :class:`ToolFailed` when 7-Zip fails; in both cases nothing is
    left behind and the package is not modified.
    """
    src = Path(package)
    kind = package_kind(src)
    if kind is None:
        raise InvalidInput(f"{src.name}: not a supported package (zip, tar*, 7z)")
    lim = limits or ExtractLimits()
    final = Path(destination) if destination else default_destination(src, date)
    if final.exists() or final.is_symlink():
        raise InvalidInput(f"extraction destination already exists: {final}")
    staging = final.with_name(f".{final.name}.extracting-{uuid.uuid4().hex[:8]}")
    budget = _Budget(lim)
    tool = _seven_zip() if kind == "7z" else ("zipfile" if kind == "zip" else "tarfile")
    result = ExtractResult(src, final, kind, tool, tool_version(tool) if kind == "7z" else None)
    nested_done: list[tuple[Path, Path]] = []  # (package relative to staging, its dest)
    try:
        _unpack(src, staging, kind, budget)
        if recursive:
            _extract_nested(staging, staging, 1, lim, budget, date, delete, result, nested_done)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Map staging paths to their final place and attribute each file to its package.
    nested = sorted(
        ((final / rel_pkg, final / rel_dest) for rel_pkg, rel_dest in nested_done),
        key=lambda pd: len(pd[1].parts),
        reverse=True,
    )
    for path in walk_files(final):
        owner = next((pkg for pkg, dst in nested if dst in path.parents), src)
        result.files.append(ExtractedFile(path, owner))
    result.deleted_packages = [final / p for p in _deleted(nested_done, delete)]
    result.not_extracted = [final / p.relative_to(staging) for p in result.not_extracted]
    if delete:
        src.unlink()
        result.deleted_packages.insert(0, src)
    return result


def _deleted(nested_done: Iterable[tuple[Path, Path]], delete: bool) -> list[Path]:
    return [pkg for pkg, _ in nested_done] if delete else []


def _extract_nested(
    top: Path,
    root: Path,
    depth: int,
    limits: ExtractLimits,
    budget: _Budget,
    date: str | None,
    delete: bool,
    result: ExtractResult,
    done: list[tuple[Path, Path]],
) -> None:
    for path in list(walk_files(root)):
        kind = package_kind(path)
        if kind is None:
            continue
        if depth >= limits.max_depth:
            result.not_extracted.append(path)
            continue
        dest = default_destination(path, date)
        if dest.exists():
            raise InvalidInput(f"extraction destination already exists: {dest}")
        _unpack(path, dest, kind, budget)
        done.append((path.relative_to(top), dest.relative_to(top)))
        _extract_nested(top, dest, depth + 1, limits, budget, date, delete, result, done)
        if delete:
            path.unlink()
