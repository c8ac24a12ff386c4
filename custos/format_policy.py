"""Load the format policy (``custos/data/normalization_rules.yaml``) into typed rules.

The policy is data so an archivist can read and change it without reading Python:
a rule maps PRONOM PUIDs to a preservation, an access and a thumbnail command, each
naming the tool it runs. Loading checks every reference (unknown tool, unknown
command, PUID claimed twice) so a broken policy fails at start, not mid-ingest.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml

from custos.errors import ConfigError
from custos.settings import PACKAGE_DATA

DEFAULT_RULES = PACKAGE_DATA / "normalization_rules.yaml"


class Purpose(StrEnum):
    """What a derivative is for; also its File ``use``."""

    PRESERVATION = "preservation"
    ACCESS = "access"
    THUMBNAIL = "thumbnail"


@dataclass(frozen=True)
class Tool:
    """An external program, found as the first installed of ``binaries``."""

    name: str
    binaries: tuple[str, ...]
    version_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    """One normalization command: tool, output extension and argument template."""

    name: str
    tool: Tool
    extension: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """The commands for a family of formats (``None``: nothing to do for that purpose)."""

    name: str
    puids: tuple[str, ...]
    commands: dict[Purpose, Command | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """The whole format policy, indexed by PUID."""

    rules: tuple[Rule, ...]
    validators: dict[str, Command]
    on_failure: Literal["fail", "continue"] = "fail"
    by_puid: dict[str, Rule] = field(default_factory=dict)

    def rule_for(self, puid: str | None) -> Rule | None:
        """The rule for a format, or None when the policy does not cover it."""
        return self.by_puid.get(puid or "")

    def command_for(self, puid: str | None, purpose: Purpose) -> Command | None:
        """The command normalizing ``puid`` for ``purpose``, if any."""
        rule = self.rule_for(puid)
        return rule.commands.get(purpose) if rule else None


def _str_tuple(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"normalization rules: {where} must be a list of strings")
    return tuple(value)


def _command(name: str, raw: Any, tools: dict[str, Tool]) -> Command:
    if not isinstance(raw, dict):
        raise ConfigError(f"normalization rules: command {name!r} must be a mapping")
    tool = tools.get(str(raw.get("tool")))
    if tool is None:
        raise ConfigError(
            f"normalization rules: command {name!r} uses unknown tool {raw.get('tool')!r}"
        )
    return Command(
        name,
        tool,
        str(raw.get("extension", "")).lstrip("."),
        _str_tuple(raw.get("args"), f"{name}.args"),
    )


def parse_policy(data: Any, source: str = "rules") -> Policy:
    """Build a :class:`Policy` from the parsed YAML document, checking references."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the document must be a mapping")
    tools = {
        name: Tool(
            name,
            _str_tuple(raw.get("binaries"), f"tools.{name}.binaries"),
            _str_tuple(raw.get("version_args"), f"tools.{name}.version_args"),
        )
        for name, raw in (data.get("tools") or {}).items()
    }
    commands = {n: _command(n, raw, tools) for n, raw in (data.get("commands") or {}).items()}
    validators = {
        ext: _command(f"validate-{ext}", raw, tools)
        for ext, raw in (data.get("validators") or {}).items()
    }
    rules: list[Rule] = []
    by_puid: dict[str, Rule] = {}
    for raw in data.get("rules") or []:
        by_purpose: dict[Purpose, Command | None] = {}
        for purpose in Purpose:
            ref = raw.get(purpose.value)
            if ref is not None and ref not in commands:
                raise ConfigError(
                    f"{source}: rule {raw.get('name')!r} names unknown command {ref!r}"
                )
            by_purpose[purpose] = commands[ref] if ref is not None else None
        rule = Rule(
            str(raw.get("name", "")), _str_tuple(raw.get("puids"), "rules.puids"), by_purpose
        )
        for puid in rule.puids:
            if puid in by_puid:
                raise ConfigError(
                    f"{source}: PUID {puid} is in rules {by_puid[puid].name!r} and {rule.name!r}"
                )
            by_puid[puid] = rule
        rules.append(rule)
    on_failure = data.get("on_failure", "fail")
    if on_failure not in ("fail", "continue"):
        raise ConfigError(f"{source}: on_failure must be 'fail' or 'continue'")
    return Policy(tuple(rules), validators, on_failure, by_puid)


@functools.cache
def load_policy(path: Path = DEFAULT_RULES) -> Policy:
    """Read and check the policy file (cached per process)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read normalization rules {Path(path).name}: {exc}") from exc
    return parse_policy(data, Path(path).name)
