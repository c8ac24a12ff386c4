"""Walk a transfer tree safely: regular files only, never following symlinks.

Transfers come from users; they may hold symlinks (possibly looping or pointing
outside the transfer), FIFOs, sockets or device nodes. Following any of them
could read data we do not own or never terminate, so the walk uses ``lstat``
semantics throughout and reports such entries as problems for the caller to turn
into a failed job or a note.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class TreeProblem:
    """An entry that is not a regular file or directory, e.g. a symlink."""

    path: Path
    kind: str  # "symlink", "fifo", "socket", "device", "unreadable"
    message: str


@dataclass
class TreeScan:
    """Everything found under a root: regular files, directories and problems."""

    root: Path
    files: list[Path] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)
    empty_directories: list[Path] = field(default_factory=list)
    problems: list[TreeProblem] = field(default_factory=list)


def _classify(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def _entries(directory: Path, problems: list[TreeProblem]) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append(TreeProblem(directory, "unreadable", str(exc)))
        return []


def _walk(top: Path, problems: list[TreeProblem]) -> Iterator[tuple[str, Path]]:
    """Yield ("file"|"dir"|"empty", path) in lexicographic component order."""
    stack: list[Iterator[os.DirEntry[str]]] = [iter(_entries(top, problems))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        path = Path(entry.path)
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except OSError as exc:
            problems.append(TreeProblem(path, "unreadable", str(exc)))
            continue
        if stat.S_ISDIR(mode):
            children = _entries(path, problems)
            yield ("dir", path)
            if not children:
                yield ("empty", path)
            stack.append(iter(children))
        elif stat.S_ISREG(mode):
            yield ("file", path)
        else:
            kind = _classify(mode)
            detail = f" -> {os.readlink(path)}" if kind == "symlink" else ""
            problems.append(TreeProblem(path, kind, f"{kind} not followed{detail}"))


def walk_files(root: str | Path, problems: list[TreeProblem] | None = None) -> Iterator[Path]:
    """Yield every regular file under ``root`` in sorted order, depth first.

    Symlinks (to files or directories, dangling or looping) are never followed;
    they and other special files are appended to ``problems`` when a list is
    given. Entries are visited in name order, so the output is deterministic.
    """
    sink: list[TreeProblem] = [] if problems is None else problems
    for kind, path in _walk(Path(root), sink):
        if kind == "file":
            yield path


def scan_tree(root: str | Path) -> TreeScan:
    """Return files, directories, empty directories and problems under ``root``.

    Empty directories matter to the AIP (they are documented in the METS), so
    they are reported separately; a directory holding only a symlink is not empty.
    """
    scan = TreeScan(root=Path(root))
    for kind, path in _walk(scan.root, scan.problems):
        {"file": scan.files, "dir": scan.directories, "empty": scan.empty_directories}[kind].append(
            path
        )
    return scan
