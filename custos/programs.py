"""Find and run external programs with a timeout, and report what ran.

Every PREMIS event we record names the program and its version, and every failed
tool call must keep its return code and stderr, so the tool adapters
(``tasks.tools``) and the core's own calls (7-Zip reading a stored AIP) go through
:func:`run` and :func:`tool_version` instead of calling :mod:`subprocess` directly.

Programs are found by :func:`which`: the ``PATH`` first, then the system folders
(``/usr/local/sbin``, ``/usr/sbin``, ``/sbin`` ...) that a non-root user's ``PATH``
usually lacks although Debian installs daemons there (``clamd`` is
``/usr/sbin/clamd``). :func:`run` starts the program :func:`which` finds, so a
command written as ``["clamd", ...]`` works for every user.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from custos.errors import ToolFailed

#: Flags that make each known tool print its version (first match wins).
_VERSION_ARGS: Mapping[str, tuple[str, ...]] = {
    "clamscan": ("--version",),
    "clamd": ("--version",),
    "clamdscan": ("--version",),
    "7zz": (),
    "7z": (),
    "exiftool": ("-ver",),
    "mediainfo": ("--Version",),
    "ffprobe": ("-version",),
    "ffmpeg": ("-version",),
    "qpdf": ("--version",),
    "pngcheck": ("-h",),
    "jpeginfo": ("--version",),
    "mediaconch": ("--version",),
    "convert": ("-version",),
    "gs": ("--version",),
}
_VERSION_RE = re.compile(r"(\d+(?:\.\d+)+(?:[-+~][0-9A-Za-z.+~-]*)?)")


@dataclass(frozen=True)
class ToolResult:
    """What one external command did: enough for a Task row and a PREMIS event."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def tool(self) -> str:
        """The program name (basename of the first argument)."""
        return Path(self.args[0]).name

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.returncode == 0


#: Searched after the ``PATH``, in this order, for what is not on it.
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def search_path() -> str:
    """The ``PATH`` followed by those :data:`SYSTEM_DIRS` it does not name."""
    entries = [d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if d]
    return os.pathsep.join([*entries, *(d for d in SYSTEM_DIRS if d not in entries)])


def which(name: str) -> str | None:
    """The absolute path of a program (see :func:`search_path`), or None when it is
    not installed. A name with a slash is checked as it is."""
    return shutil.which(name, path=search_path())


def seven_zip() -> str:
    """The 7-Zip command available (``7zz`` from Debian's 7zip, else ``7z``)."""
    for name in ("7zz", "7z"):
        if which(name):
            return name
    raise ToolFailed("7zz", 127, "7-Zip is not installed (Debian package 7zip)")


def run(
    args: Sequence[str | Path],
    *,
    timeout: float = 300.0,
    check: bool = False,
    cwd: str | Path | None = None,
    ok_codes: Sequence[int] = (0,),
    pass_fds: Sequence[int] = (),
) -> ToolResult:
    """Run a command without a shell, capturing decoded stdout/stderr.

    Output is decoded as UTF-8 with replacement so odd bytes in tool output never
    crash a microservice. A missing executable or a timeout always raises
    :class:`ToolFailed` (returncode 127 resp. -9); a non-zero exit raises only when
    ``check`` is true and the code is not in ``ok_codes`` (e.g. clamscan's 1 =
    "virus found" is a result, not a failure). ``pass_fds`` are inherited by the
    command, which can then open them as ``/dev/fd/N`` (a file we opened ourselves,
    without following links, instead of a path it would resolve again).
    """
    argv = tuple(str(a) for a in args)
    tool = Path(argv[0]).name
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            executable=which(argv[0]) or argv[0],
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise ToolFailed(tool, 127, f"{tool}: command not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(tool, -9, f"{tool}: timed out after {timeout:g} s") from exc
    result = ToolResult(
        args=argv,
        returncode=proc.returncode,
        stdout=proc.stdout.decode("utf-8", errors="replace"),
        stderr=proc.stderr.decode("utf-8", errors="replace"),
        duration=time.monotonic() - start,
    )
    if check and result.returncode not in ok_codes:
        raise ToolFailed(tool, result.returncode, result.stderr.strip() or result.stdout.strip())
    return result


@functools.lru_cache(maxsize=64)
def tool_version(name: str) -> str | None:
    """Return a tool's version string (e.g. ``"11.3.0"``), or None if not installed.

    Cached per process: versions do not change while we run, and asking for one
    per file would double the cost of every per-file tool call.
    """
    if which(name) is None:
        return None
    flags = _VERSION_ARGS.get(name, ("--version",))
    try:
        result = run([name, *flags], timeout=30)
    except ToolFailed:
        return None
    text = result.stdout + "\n" + result.stderr
    for line in text.splitlines():
        match = _VERSION_RE.search(line)
        if match:
            return match.group(1)
    return None


def event_detail(program: str, version: str | None, **extra: str | None) -> str:
    """Format a PREMIS eventDetail the way Archivematica does.

    ``event_detail("qpdf", "11.3.0")`` gives ``program="qpdf"; version="11.3.0"``;
    keys whose value is None are omitted, so a missing version or signature
    version never produces ``version="None"``.
    """
    parts = [f'program="{program}"']
    if version is not None:
        parts.append(f'version="{version}"')
    parts.extend(f'{key}="{value}"' for key, value in extra.items() if value is not None)
    return "; ".join(parts)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def pool_size(limit: int) -> int:
    """How many external tools to run at once: ``limit`` (the ``worker_threads``
    setting), but never more than the usable cores: each tool is CPU bound, so more
    would only make them fight over the same cores."""
    return max(1, min(limit, usable_cores()))
