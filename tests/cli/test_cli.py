"""The ``custos`` command: a home set up from scratch, users, keys, locations, status,
and one-line errors for bad input (run in-process with typer's CliRunner)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from custos.accounts import user_for_key
from custos.db import get_engine
from custos.runtime.lock import HomeLock
from custos.runtime.preflight import free_port

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home with its own SQLite database (whatever the session uses)."""
    home = tmp_path / "home"
    monkeypatch.setenv("CUSTOS_HOME", str(home))
    monkeypatch.delenv("CUSTOS_DATABASE_URL", raising=False)
    return home


def _json(args: list[str]) -> object:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _fails(args: list[str], *words: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.stdout
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    for word in words:
        assert word in line
    return line


def test_init_creates_home_database_and_locations(home: Path) -> None:
    data = _json(["init"])
    assert isinstance(data, dict)
    assert (home / "custos.db").is_file()
    purposes = {loc["purpose"]: Path(loc["path"]) for loc in data["locations"]}
    assert set(purposes) == {"transfer-source", "processing", "aip-store", "dip-store", "backlog"}
    assert all(path.is_dir() for path in purposes.values())
    assert _json(["init"])["locations_created"] == 0  # type: ignore[index]


def test_apikey_creates_user_and_a_working_key(home: Path) -> None:
    _json(["init"])
    data = _json(["apikey", "create", "--user", "alice"])
    assert isinstance(data, dict) and data["user_created"] is True
    engine = get_engine(f"sqlite:///{home / 'custos.db'}")
    user = user_for_key(data["key"], engine=engine)
    assert user is not None and user.username == "alice"
    again = _json(["apikey", "create", "--user", "alice"])
    assert again["user_created"] is False  # type: ignore[index]
    assert user.role == "archivist" and data["role"] == "archivist"  # the default
    _fails(["user", "create", "alice", "--role", "archivist"], "already exists")
    assert _json(["user", "create", "bob", "--role", "admin"])["role"] == "admin"  # type: ignore[index]


def test_location_add_and_list(home: Path, tmp_path: Path) -> None:
    _json(["init"])
    folder = tmp_path / "more-aips"
    folder.mkdir()
    added = _json(["location", "add", "aip-store", str(folder), "--description", "second"])
    assert isinstance(added, dict) and added["code"] == "AS"
    listed = _json(["location", "list", "--purpose", "AS"])
    assert isinstance(listed, list)
    assert {loc["path"] for loc in listed} == {str(home / "locations" / "aip-store"), str(folder)}
    _fails(["location", "add", "nowhere", str(folder)], "unknown purpose")
    _fails(["location", "add", "backlog", str(tmp_path / "missing")], "is not a folder")


def test_status_of_unknown_unit(home: Path) -> None:
    _json(["init"])
    _fails(["status", "0d6b1f52-0000-0000-0000-000000000000"], "does not exist")
    result = runner.invoke(app, ["status", "nope", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "NotFound"


def test_bad_input_gives_one_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fails(["location", "list"], "does not exist", "custos init")  # home missing
    _fails(["serve"], "does not exist")
    monkeypatch.setenv("CUSTOS_PORT", "eighty")
    _fails(["init"], "CUSTOS_PORT")
    monkeypatch.delenv("CUSTOS_PORT")
    blocker = home.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CUSTOS_HOME", str(blocker / "home"))
    _fails(["init"], "cannot create home folder", str(blocker / "home"))
    monkeypatch.setenv("CUSTOS_HOME", str(blocker))
    _fails(["serve"], "is not a folder")


def test_serve_refuses_bad_input_before_starting(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _json(["init"])
    db_before = (home / "custos.db").read_bytes()
    monkeypatch.setenv("CUSTOS_PORT", str(free_port()))
    monkeypatch.setenv("CUSTOS_PREFECT_PORT", str(free_port()))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        _fails(["serve", "--port", str(port)], f"port {port}", "already in use")
    with HomeLock(home / "run"):
        _fails(["serve"], "another custos serve", str(home))
    monkeypatch.setenv("CUSTOS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    _fails(["serve"], "database unreachable")
    assert (home / "custos.db").read_bytes() == db_before
    assert not (home / "logs" / "prefect-server.log").exists()


def test_apikey_list_revoke_and_user_deactivate(home: Path) -> None:
    _json(["init"])
    engine = get_engine(f"sqlite:///{home / 'custos.db'}")
    first = _json(["apikey", "create", "--user", "carol", "--label", "scripts"])
    second = _json(["apikey", "create", "--user", "carol"])
    other = _json(["apikey", "create", "--user", "dave"])
    keys = _json(["apikey", "list", "--user", "carol"])
    assert isinstance(keys, list) and [k["label"] for k in keys] == ["scripts", ""]
    assert all(
        k["prefix"] == first["key"][:8] or k["prefix"] == second["key"][:8]  # type: ignore[index]
        for k in keys
    )
    listing = runner.invoke(app, ["apikey", "list"]).stdout
    assert first["key"] not in listing and first["key"][:8] in listing  # type: ignore[index]
    marker = home / "run" / "credentials-changed"
    assert not marker.exists()
    revoked = _json(["apikey", "revoke", str(keys[0]["id"])])
    assert revoked == {"id": keys[0]["id"], "prefix": keys[0]["prefix"], "revoked": True}
    assert marker.is_file()  # the API's credential caches drop out at once
    assert user_for_key(first["key"], engine=engine) is None  # type: ignore[index]
    assert user_for_key(second["key"], engine=engine) is not None  # type: ignore[index]
    _json(["apikey", "revoke", second["key"][:8]])  # type: ignore[index]  # by prefix
    assert user_for_key(second["key"], engine=engine) is None  # type: ignore[index]
    _fails(["apikey", "revoke", "999"], "no API key")
    _fails(["apikey", "revoke", "12345678"], "no API key")  # 8 digits: a prefix, not an id
    _json(["apikey", "revoke", other["key"]])  # type: ignore[index]  # the whole key
    assert user_for_key(other["key"], engine=engine) is None  # type: ignore[index]
    other = _json(["apikey", "create", "--user", "dave"])
    _fails(["apikey", "revoke", "abc"], "prefix")
    stamp = marker.stat().st_ino, marker.stat().st_mtime_ns
    _json(["user", "deactivate", "dave"])
    assert (marker.stat().st_ino, marker.stat().st_mtime_ns) != stamp
    assert user_for_key(other["key"], engine=engine) is None  # type: ignore[index]
    users = {u["username"]: u["active"] for u in _json(["user", "list"])}  # type: ignore[union-attr]
    assert users == {"carol": True, "dave": False}
    _json(["user", "activate", "dave"])
    assert user_for_key(other["key"], engine=engine) is not None  # type: ignore[index]
    _fails(["user", "deactivate", "nobody"], "no user")


def test_scaled_out_commands_need_a_prefect_server(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve --no-runner``, ``deploy`` and ``worker`` talk to the pool's Prefect
    server: without PREFECT_API_URL each says so in one line."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    _json(["init"])
    _fails(["serve", "--no-runner"], "--no-runner needs PREFECT_API_URL")
    _fails(["deploy"], "custos deploy needs PREFECT_API_URL")
    _fails(["worker"], "custos worker needs PREFECT_API_URL")
    _fails(["resume", "0d6b1f52-0000-0000-0000-000000000000"], "does not exist")
