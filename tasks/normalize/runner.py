"""Run one normalization or validation command of the policy on one file.

Each tool gets what it needs to behave in a batch service: ImageMagick, ffmpeg and
Ghostscript write straight to the output path; LibreOffice picks its own output
name inside ``--outdir`` and shares a user profile between instances, so it runs
with a private profile in a scratch folder and its output is moved into place;
``copy`` is a byte copy. Output is written to a temporary name and renamed, so a
derivative path on disk always means a finished derivative.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from custos.errors import ConfigError, ToolFailed
from custos.format_policy import Command, Tool
from custos.programs import ToolResult, event_detail, run, tool_version, which

#: A normalization may legitimately take long (video), but never forever.
TIMEOUT = 3600.0


@dataclass(frozen=True)
class CommandRun:
    """What running a command did: the tool result and the PREMIS event detail."""

    result: ToolResult
    detail: str
    output: Path | None


def resolve_binary(tool: Tool) -> str:
    """The first installed binary of the tool (an absolute path, or a name on PATH)."""
    for name in tool.binaries:
        if Path(name).is_absolute() and Path(name).is_file():
            return name
        if not Path(name).is_absolute() and which(name):
            return name
    raise ToolFailed(
        tool.name, 127, f"{tool.name} is not installed (looked for {', '.join(tool.binaries)})"
    )


def version_of(tool: Tool) -> str | None:
    """The tool's version for event details (None for the built-in copy)."""
    if tool.name == "copy":
        return None
    return tool_version(resolve_binary(tool))


def _fill(args: tuple[str, ...], **values: str) -> list[str]:
    return [
        a.replace("{input}", values["input"])
        .replace("{output}", values["output"])
        .replace("{outdir}", values["outdir"])
        for a in args
    ]


def _copy(source: Path, output: Path) -> ToolResult:
    shutil.copyfile(source, output)
    return ToolResult(("copy", str(source), str(output)), 0, "", "", 0.0)


def run_command(command: Command, source: Path, output: Path) -> CommandRun:
    """Normalize ``source`` into ``output`` with ``command``.

    Raises:
        ToolFailed: the tool is missing, fails, times out or writes no output.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".partial-{output.name}")
    partial.unlink(missing_ok=True)
    detail = event_detail(
        command.tool.name if command.tool.name != "copy" else "python",
        version_of(command.tool),
        command=command.name,
    )
    with tempfile.TemporaryDirectory(prefix="custos-normalize-") as scratch:
        if command.tool.name == "copy":
            result = _copy(source, partial)
        elif command.tool.name == "libreoffice":
            result = _libreoffice(command, source, partial, Path(scratch))
        else:
            argv = [
                resolve_binary(command.tool),
                *_fill(command.args, input=str(source), output=str(partial), outdir=scratch),
            ]
            result = run(argv, timeout=TIMEOUT)
    if not result.ok or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        reason = result.stderr or result.stdout or "no output written"
        raise ToolFailed(command.tool.name, result.returncode or 1, reason)
    partial.rename(output)
    return CommandRun(result, detail, output)


def _libreoffice(command: Command, source: Path, partial: Path, scratch: Path) -> ToolResult:
    outdir = scratch / "out"
    outdir.mkdir()
    profile = (scratch / "profile").as_uri()
    argv = [
        resolve_binary(command.tool),
        f"-env:UserInstallation={profile}",
        *_fill(command.args, input=str(source), output=str(partial), outdir=str(outdir)),
    ]
    result = run(argv, timeout=TIMEOUT)
    produced = sorted(outdir.iterdir())
    if result.ok and len(produced) == 1:
        shutil.move(produced[0], partial)
    elif result.ok:
        return ToolResult(
            result.args,
            1,
            result.stdout,
            result.stderr or f"expected one output, got {len(produced)}",
            result.duration,
        )
    return result


def validate(command: Command, path: Path) -> ToolResult:
    """Run a validator; a non-zero exit or any error output means invalid."""
    if command.tool.name == "copy":
        raise ConfigError("copy cannot validate a file")
    argv = [
        resolve_binary(command.tool),
        *_fill(command.args, input=str(path), output="", outdir=str(path.parent)),
    ]
    return run(argv, timeout=TIMEOUT)
