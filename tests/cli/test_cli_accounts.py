"""``custos user create|set-role|set-password|list`` and ``apikey create --role``:
roles and passwords from the shell, in a fresh home (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import accounts as cli_accounts
from cli.main import app
from custos.accounts import authenticate, user_by_name, user_for_key
from custos.db import get_engine

runner = CliRunner()


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh, initialised home with its own SQLite database; its engine."""
    home = tmp_path / "home"
    monkeypatch.setenv("CUSTOS_HOME", str(home))
    monkeypatch.delenv("CUSTOS_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["init", "--json"]).exit_code == 0
    return get_engine(f"sqlite:///{home / 'custos.db'}")


def ok(args: list[str], stdin: str | None = None) -> Any:
    result = runner.invoke(app, [*args, "--json"], input=stdin)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def fails(args: list[str], *words: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 1, result.stdout
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line, line
    return line


def test_create_with_role_and_password_then_list(engine: Any) -> None:
    made = ok(
        ["user", "create", "ann", "--role", "capture", "--password-stdin"],
        stdin="a long passphrase\n",
    )
    assert (made["role"], made["admin"], made["has_password"]) == ("capture", False, True)
    assert authenticate("ann", "a long passphrase", engine) is not None
    ok(["user", "create", "bea", "--role", "Auditor"])  # any case
    assert user_by_name("bea", engine).password_hash is None  # type: ignore[union-attr]
    listed = {u["username"]: u["role"] for u in ok(["user", "list"])}
    assert listed == {"ann": "capture", "bea": "auditor"}
    table = runner.invoke(app, ["user", "list"]).stdout
    assert "role" in table and "capture" in table and "auditor" in table
    fails(
        ["user", "create", "cid", "--role", "root"],
        "unknown role 'root': choose one of admin, archivist, capture, auditor",
    )
    assert user_by_name("cid", engine) is None
    assert runner.invoke(app, ["user", "create", "cid"]).exit_code == 2  # --role is required
    fails(
        ["user", "create", "dan", "--role", "admin", "--password-stdin"],
        "at least 8 characters",
        stdin="short\n",
    )
    fails(
        ["user", "create", "eve", "--role", "admin", "--password-stdin"],
        "no password on standard input",
        stdin="",
    )
    assert user_by_name("dan", engine) is None and user_by_name("eve", engine) is None


def test_set_role(engine: Any) -> None:
    ok(["user", "create", "fay", "--role", "archivist"])
    assert ok(["user", "set-role", "fay", "admin"])["role"] == "admin"
    assert user_by_name("fay", engine).is_admin  # type: ignore[union-attr]
    fails(["user", "set-role", "fay", "owner"], "unknown role 'owner'")
    fails(["user", "set-role", "nobody", "admin"], "no user named 'nobody'")
    assert user_by_name("fay", engine).role == "admin"  # type: ignore[union-attr]


def test_set_password_from_stdin_and_from_the_prompt(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(["user", "create", "gus", "--role", "capture"])
    ok(["user", "set-password", "gus", "--password-stdin"], stdin="first passphrase\r\n")
    assert authenticate("gus", "first passphrase", engine) is not None
    typed = iter(["second passphrase", "second passphrase"])
    prompts: list[str] = []
    monkeypatch.setattr(
        cli_accounts.getpass, "getpass", lambda prompt: prompts.append(prompt) or next(typed)
    )
    ok(["user", "set-password", "gus"])
    assert prompts == ["New password: ", "Repeat the password: "]
    assert authenticate("gus", "second passphrase", engine) is not None
    assert authenticate("gus", "first passphrase", engine) is None
    typed = iter(["third passphrase", "third passphrasE"])
    fails(["user", "set-password", "gus"], "the two passwords differ")
    assert authenticate("gus", "second passphrase", engine) is not None  # unchanged
    asked: list[str] = []
    monkeypatch.setattr(cli_accounts.getpass, "getpass", lambda p: asked.append(p) or "")
    fails(["user", "set-password", "nobody"], "no user named 'nobody'")
    assert asked == []  # an unknown user is refused before any password is asked


def test_apikey_create_gives_a_new_user_a_role(engine: Any) -> None:
    made = ok(["apikey", "create", "--user", "hal", "--role", "capture"])
    assert made["user_created"] and made["role"] == "capture"
    assert user_for_key(made["key"], engine=engine).role == "capture"  # type: ignore[union-attr]
    plain = ok(["apikey", "create", "--user", "ida"])
    assert plain["role"] == "archivist"
    fails(
        ["apikey", "create", "--user", "hal", "--role", "admin"],
        "has the role capture, not admin",
        "set-role",
    )
    assert ok(["apikey", "create", "--user", "hal"])["user_created"] is False
