"""What a transfer source is, told from its name and first bytes: package or bag.

Pure sniffers with no side effects, used by the core (checking a source when a
transfer starts), the command line (guessing a transfer's type) and the extraction
step. They open nothing through a link and never read more than a header.

Example::

    package_kind(Path("photos.zip"))  # "zip" (a real zip), else None
    is_bag(Path("accession-12"))      # True when it holds a bagit.txt
"""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import IO

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
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def kind_by_name(name: str) -> str | None:
    """The package kind a file name announces (``.zip``, ``.tar.gz``, ``.7z`` ...)."""
    lower = name.lower()
    return next((k for s, k in _SUFFIXES.items() if lower.endswith(s) and lower != s), None)


def _kind_of(kind: str, fh: IO[bytes]) -> str | None:
    try:
        fh.seek(0)
        if kind == "zip":
            found = zipfile.is_zipfile(fh)
        elif kind == "tar":
            found = tarfile.is_tarfile(fh)
        else:
            found = fh.read(6) == _7Z_MAGIC
        fh.seek(0)
    except (OSError, EOFError, tarfile.TarError, zlib.error, lzma.LZMAError):
        return None
    return kind if found else None


def kind_of_fd(name: str, fd: int) -> str | None:
    """The kind of the package open at ``fd`` and named ``name``, or None."""
    kind = kind_by_name(name)
    if kind is None:
        return None
    with os.fdopen(os.dup(fd), "rb") as fh:
        return _kind_of(kind, fh)


def package_kind(path: str | Path) -> str | None:
    """``"zip"``, ``"tar"`` or ``"7z"`` when ``path`` is a package we extract, else None.

    Decided by extension *and* content, so an ``.docx`` (a zip inside) or a
    mislabeled text file is not treated as a package. A link is never a package.
    """
    p = Path(path)
    if kind_by_name(p.name) is None:
        return None
    try:
        fd = os.open(p, _READ_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        return kind_of_fd(p.name, fd)
    finally:
        os.close(fd)


def is_bag(path: str | Path) -> bool:
    """True when ``path`` is a directory with a ``bagit.txt`` declaring a BagIt version."""
    declaration = Path(path) / "bagit.txt"
    if not Path(path).is_dir() or not declaration.is_file():
        return False
    try:
        head = declaration.read_bytes()[:200].decode("utf-8-sig", "replace")
    except OSError:
        return False
    return "BagIt-Version:" in head
