"""The one error tree of Custos.

Every layer raises these; each API dialect maps them to its own status codes and
bodies in exactly one module (``api/<dialect>/errors.py``). Third-party errors are
translated where they happen, with ``raise ... from exc`` so the cause is kept.

::

    CustosError
    ├── NotFound          a unit, job, file, location ... does not exist
    ├── InvalidInput      the caller's input is wrong (``details`` says where)
    ├── Conflict          the request clashes with the current state
    ├── Forbidden         authenticated, but not allowed
    ├── ConfigError       settings or a processing configuration are wrong
    ├── StorageError      a location cannot be read or written
    ├── ToolFailed        an external tool exited non-zero
    └── FixityMismatch    a checksum did not match (never retried into a success)
"""

from __future__ import annotations

from typing import Any


class CustosError(Exception):
    """Base class of every error Custos raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(CustosError):
    """The thing asked for does not exist."""


class InvalidInput(CustosError):
    """The input is wrong; ``details`` carries per-field or per-file reasons."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.details = details


class Conflict(CustosError):
    """The request is valid but clashes with the current state of a unit."""


class Forbidden(CustosError):
    """The caller is authenticated but not allowed to do this."""


class ConfigError(CustosError):
    """Settings or a processing configuration are invalid."""


class StorageError(CustosError):
    """A storage location could not be read or written."""


class ToolFailed(CustosError):
    """An external tool (clamscan, 7z, ffmpeg ...) failed."""

    def __init__(self, tool: str, returncode: int | None, stderr: str = "") -> None:
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        super().__init__(f"{tool} failed (exit {returncode}){': ' + tail if tail else ''}")
        self.tool = tool
        self.returncode = returncode
        self.stderr = stderr


class FixityMismatch(CustosError):
    """A file's checksum differs from the expected one."""

    def __init__(self, path: str, algorithm: str, expected: str, found: str) -> None:
        super().__init__(f"{algorithm} mismatch for {path}: expected {expected}, found {found}")
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.found = found


__all__ = [
    "Conflict",
    "ConfigError",
    "CustosError",
    "FixityMismatch",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "StorageError",
    "ToolFailed",
]
