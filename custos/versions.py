"""Versions of the software Custos runs with, for provenance and machine reports."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version


def software_versions(browser_version: str) -> dict[str, str]:
    """Versions of everything that shapes a capture (Python, Chromium, our packages)."""
    versions = {"python": platform.python_version(), "chromium": browser_version}
    for package in ("custos", "playwright", "warcio"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "unknown"
    return versions
