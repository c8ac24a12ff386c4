"""List a package's members and decide, before writing anything, what will be extracted.

The rules (``tasks.extract`` documents them for users):

- a member name that is empty, holds NUL, is absolute (``/x``, ``C:x``) or has a
  ``..`` component is refused (:class:`InvalidInput` naming the member);
- symbolic links, hard links, device files, FIFOs and sockets are never created:
  each becomes a :class:`NotExtracted` with its reason;
- names that would land on the same place are refused, naming both members: the
  same name twice (a folder listed twice is fine), a name used both as a file (or
  link) and as a folder (this covers members *beneath* a link, the classic way to
  write through it), and names that differ only in letter case or Unicode
  normalization (NFC/NFD), which case- or normalization-insensitive filesystems the
  AIP may be copied to would merge;
- totals are checked against the limits (:class:`Budget`: zip bombs).
"""

from __future__ import annotations

import stat
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from custos.errors import InvalidInput

_LINK_PREVIEW = 4096
_SPECIAL_TAR = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}
_SPECIAL_MODE = {
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}
_SPECIAL_7Z = {"c": "character device", "b": "block device", "p": "FIFO", "s": "socket"}


@dataclass(frozen=True)
class Member:
    """One archive entry as listed, before extraction."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink", "special"
    size: int
    link: str | None = None
    detail: str = ""  # what a "special" member is: FIFO, character device ...
    mtime: float | None = None
    ref: Any = field(default=None, compare=False, repr=False)  # ZipInfo / TarInfo


@dataclass(frozen=True)
class NotExtracted:
    """A member deliberately not created (a link or special file), and why."""

    package: Path
    member: str
    reason: str

    def __str__(self) -> str:
        return f"{self.member!r} ({self.reason})"


@dataclass
class Plan:
    """What one package will produce: folders, files, and members left out."""

    package: Path
    dirs: list[tuple[tuple[str, ...], Member]] = field(default_factory=list)
    files: list[tuple[tuple[str, ...], Member]] = field(default_factory=list)
    not_extracted: list[NotExtracted] = field(default_factory=list)
    left_out: list[Member] = field(default_factory=list)


def _reason(member: Member) -> str:
    if member.kind in ("symlink", "hardlink"):
        what = "symbolic link" if member.kind == "symlink" else "hard link"
        return what if member.link is None else f"{what} to {member.link!r}"
    return member.detail or "special file"


# --------------------------------------------------------------------------- listing


def list_zip(zf: zipfile.ZipFile, label: str) -> list[Member]:
    """The members of an open zip (encrypted members are refused)."""
    members = []
    for info in zf.infolist():
        if info.flag_bits & 0x1:
            raise InvalidInput(
                f"{label}: encrypted member {info.filename!r} refused",
                details={"package": label, "member": info.filename},
            )
        mode = info.external_attr >> 16
        fmt = stat.S_IFMT(mode)
        link = None
        detail = ""
        if info.is_dir():
            kind = "dir"
        elif fmt == stat.S_IFLNK:
            kind = "symlink"
            with zf.open(info) as fh:
                link = fh.read(_LINK_PREVIEW).decode("utf-8", "replace")
        elif fmt in _SPECIAL_MODE:
            kind, detail = "special", _SPECIAL_MODE[fmt]
        elif fmt and fmt != stat.S_IFREG:
            kind, detail = "special", f"entry of file type {fmt:#o}"
        else:
            kind = "file"
        size = info.file_size if kind == "file" else 0
        members.append(Member(info.filename, kind, size, link, detail, ref=info))
    return members


def list_tar(tf: tarfile.TarFile, label: str, budget: Budget, package_size: int) -> list[Member]:
    """The members of an open tar, checking the limits as it goes (it decompresses)."""
    members: list[Member] = []
    files = size = 0
    for info in tf:
        detail = ""
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
            detail = _SPECIAL_TAR.get(info.type, f"tar entry of type {info.type!r}")
        link = info.linkname if kind in ("symlink", "hardlink") else None
        member = Member(
            info.name,
            kind,
            info.size if kind == "file" else 0,
            link,
            detail,
            float(info.mtime),
            info,
        )
        members.append(member)
        if kind == "file":
            files, size = files + 1, size + member.size
            budget.check_more(label, files, size, package_size)
    return members


def parse_7z_listing(text: str, label: str) -> list[Member]:
    """Members from ``7zz l -slt -ba`` output (one ``key = value`` block per member)."""
    members = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if any(" = " not in line and not line.endswith(" =") for line in lines):
            raise InvalidInput(
                f"{label}: a member name holds a line break; refused",
                details={"package": label, "reason": "unreadable listing"},
            )
        fields = dict(
            line.partition(" = ")[::2] if " = " in line else (line[:-2], "") for line in lines
        )
        if "Path" not in fields:
            continue
        name = fields["Path"]
        if fields.get("Encrypted") == "+":
            raise InvalidInput(
                f"{label}: encrypted member {name!r} refused",
                details={"package": label, "member": name},
            )
        attrs = fields.get("Attributes", "")
        unix = attrs.split(" ", 1)[1] if " " in attrs else ""
        detail = ""
        if attrs.startswith("D") or unix.startswith("d") or fields.get("Folder") == "+":
            kind = "dir"
        elif unix.startswith("l"):
            kind = "symlink"
        elif unix and unix[0] != "-":
            kind, detail = "special", _SPECIAL_7Z.get(unix[0], "special file")
        else:
            kind = "file"
        size = int(fields.get("Size") or 0) if kind == "file" else 0
        members.append(Member(name, kind, size, None, detail))
    return members


# --------------------------------------------------------------------------- vetting


def safe_parts(label: str, name: str, *, backslash: bool = False) -> tuple[str, ...]:
    """The member's path components, refusing anything that could leave the destination.

    ``backslash`` treats ``\\`` as a separator too (zip: Windows tools write it).
    """
    if not name or "\0" in name:
        raise InvalidInput(
            f"{label}: empty or NUL-containing member name refused",
            details={"package": label, "member": name, "reason": "bad name"},
        )
    unified = name.replace("\\", "/") if backslash else name
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise InvalidInput(
            f"{label}: absolute member path {name!r} refused",
            details={"package": label, "member": name, "reason": "absolute path"},
        )
    parts = tuple(p for p in PurePosixPath(unified).parts if p not in ("", "."))
    if ".." in parts:
        raise InvalidInput(
            f"{label}: member {name!r} escapes the destination ('..'); refused",
            details={"package": label, "member": name, "reason": "path traversal"},
        )
    return parts


def fold(component: str) -> str:
    """A name as a case- and normalization-insensitive filesystem compares it."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", component).lower())


def _what(member: Member) -> str:
    kinds = {
        "file": "a file",
        "dir": "a folder",
        "symlink": "a symbolic link",
        "hardlink": "a hard link",
    }
    return kinds.get(member.kind, f"a {member.detail or 'special file'}")


class _Names:
    """Every path a package will occupy (implicit parent folders included)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.exact: dict[tuple[str, ...], tuple[Member, bool, bool]] = {}
        self.folded: dict[tuple[str, ...], tuple[tuple[str, ...], Member]] = {}

    def add(self, parts: tuple[str, ...], member: Member) -> None:
        for i in range(1, len(parts)):
            self._register(parts[:i], member, True, False)
        self._register(parts, member, member.kind == "dir", True)

    def _register(self, path: tuple[str, ...], member: Member, is_dir: bool, own: bool) -> None:
        seen = self.exact.get(path)
        if seen is None:
            self.exact[path] = (member, is_dir, own)
            key = tuple(fold(p) for p in path)
            other = self.folded.setdefault(key, (path, member))
            if other[0] != path:
                self._refuse(
                    other[1],
                    member,
                    "collision",
                    "differ only in letter case or Unicode normalization "
                    f"({'/'.join(other[0])!r} vs {'/'.join(path)!r})",
                )
            return
        first, first_dir, first_own = seen
        if first_dir and is_dir:
            return
        if own and first_own:  # two members for one name
            text = "have the same name"
            if first.kind != member.kind:
                text = f"have the same name ({_what(first)} and {_what(member)})"
            self._refuse(first, member, "duplicate", text)
        holder, child = (first, member) if not first_dir else (member, first)
        raise InvalidInput(
            f"{self.label}: member {child.name!r} needs {holder.name!r} to be a folder, but "
            f"{holder.name!r} is {_what(holder)} in the package; refused",
            details={
                "package": self.label,
                "member": child.name,
                "other": holder.name,
                "reason": "beneath a non-folder",
            },
        )

    def _refuse(self, a: Member, b: Member, reason: str, text: str) -> None:
        raise InvalidInput(
            f"{self.label}: members {a.name!r} and {b.name!r} {text}; refused",
            details={"package": self.label, "member": b.name, "other": a.name, "reason": reason},
        )


def vet(label: str, package: Path, members: list[Member], *, backslash: bool = False) -> Plan:
    """Decide what a package will produce; refuse unsafe or ambiguous names.

    ``package`` is where the package will be (for :class:`NotExtracted`); ``label``
    names it in messages.
    """
    plan = Plan(package)
    names = _Names(label)
    for member in members:
        parts = safe_parts(label, member.name, backslash=backslash)
        if not parts and member.kind == "file":
            raise InvalidInput(
                f"{label}: member {member.name!r} is a file named like the destination "
                "folder itself; refused",
                details={"package": label, "member": member.name, "reason": "bad name"},
            )
        if parts:  # else the archive's own root ("./"): a folder that exists already
            names.add(parts, member)
        if member.kind == "dir":
            if parts:
                plan.dirs.append((parts, member))
        elif member.kind == "file":
            plan.files.append((parts, member))
        else:
            plan.not_extracted.append(NotExtracted(package, member.name, _reason(member)))
            plan.left_out.append(member)
    return plan


# --------------------------------------------------------------------------- limits


@dataclass
class Budget:
    """Running totals across a whole (nested) extraction, checked against the limits."""

    max_total_size: int
    max_files: int
    max_ratio: float
    ratio_floor: int
    files: int = 0
    size: int = 0

    def check_more(self, label: str, files: int, size: int, package_size: int) -> None:
        """Check the totals if ``files`` more files of ``size`` bytes were taken."""
        self._check(label, self.files + files, self.size + size, package_size)

    def take(self, label: str, plan: Plan, package_size: int) -> int:
        """Account for a vetted plan; returns the bytes it may write."""
        size = sum(m.size for _, m in plan.files)
        self._check(label, self.files + len(plan.files), self.size + size, package_size)
        self.files += len(plan.files)
        self.size += size
        return size

    def _check(self, label: str, files: int, size: int, package_size: int) -> None:
        if files > self.max_files:
            raise InvalidInput(
                f"{label}: more than {self.max_files} files to extract; refused",
                details={"package": label, "limit": "max_files", "value": files},
            )
        if size > self.max_total_size:
            raise InvalidInput(
                f"{label}: uncompressed size {size} bytes exceeds the limit of "
                f"{self.max_total_size} bytes; refused (possible zip bomb)",
                details={"package": label, "limit": "max_total_size", "value": size},
            )
        if size >= self.ratio_floor and size > self.max_ratio * max(package_size, 1):
            ratio = size / max(package_size, 1)
            raise InvalidInput(
                f"{label}: compression ratio {ratio:.0f}:1 exceeds {self.max_ratio:g}:1; "
                "refused (possible zip bomb)",
                details={"package": label, "limit": "max_ratio", "value": ratio},
            )
