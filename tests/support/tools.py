"""The system tools the test suite runs, checked once when a session starts.

The list is the installer's (``scripts/install-system.sh``: command -> Debian
package), so the tests need exactly what ``make test`` installs. A missing tool fails
the session with one message naming each tool and its package, instead of skipping
the tests that would have run it.
"""

from __future__ import annotations

import re
from pathlib import Path

from custos.programs import which

INSTALLER = Path(__file__).resolve().parents[2] / "scripts" / "install-system.sh"
_ENTRY = re.compile(r'^\s*\[([^\]]+)\]=(?:"([^"]*)"|(\S+))\s*$')


def required_tools(installer: Path = INSTALLER) -> dict[str, str]:
    """Command -> Debian package(s), as the installer's ``NEED`` table lists them."""
    text = installer.read_text()
    start = text.index("declare -A NEED=(")
    tools = {}
    for line in text[start : text.index("\n)", start)].splitlines()[1:]:
        if match := _ENTRY.match(line):
            tools[match[1]] = match[2] if match[2] is not None else match[3]
    if not tools:
        raise RuntimeError(f"no NEED table in {installer}")
    return tools


def missing_tools(chromium: str | None, tools: dict[str, str]) -> dict[str, str]:
    """The tools of ``tools`` (command -> package) that Custos cannot find (the
    ``PATH``, then the system folders: :func:`custos.programs.which`); ``chromium`` is
    the browser the capture code would drive (None: none found)."""
    missing = {}
    for command, package in tools.items():
        program = chromium if command == "chromium" else command
        if program is None or which(program) is None:
            missing[command] = package
    return missing


def missing_tools_message(missing: dict[str, str]) -> str:
    """What to tell a developer whose machine lacks ``missing`` (command -> package)."""
    lines = ["the tests run these system tools, and they are missing:"]
    packages: set[str] = set()
    for command, package in sorted(missing.items()):
        note = ", or name a Chromium in CUSTOS_CHROMIUM_PATH" if command == "chromium" else ""
        lines.append(f"  {command} (Debian package {package}){note}")
        packages.update(package.split())
    if packages:
        lines.append(f"install them with: sudo apt-get install {' '.join(sorted(packages))}")
        lines.append("(`make test` installs them itself when run as root)")
    return "\n".join(lines)
