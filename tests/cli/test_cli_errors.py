"""No traceback reaches a user: every command of ``custos``, walked from the typer
app, fails with one line on stderr and exit code 1 when given a bad argument, an
unknown option, or a home that does not exist; a defect is one line too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from cli.main import app, main


def commands() -> list[tuple[list[str], Any]]:
    """Every runnable command (path of names, click command), groups walked."""
    found: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return found


def bad_arguments(cmd: Any) -> list[str]:
    """A value for every argument that names nothing that exists (no options)."""
    return ["no-such-thing" for p in cmd.params if p.param_type_name == "argument"]


COMMANDS = commands()
IDS = [" ".join(path) for path, _ in COMMANDS]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        main(argv)
    captured = capsys.readouterr()
    code = ended.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def assert_one_line(code: int, stderr: str, argv: list[str]) -> str:
    assert code == 1, f"custos {' '.join(argv)} exited {code}: {stderr}"
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), (argv, stderr)
    assert "Traceback" not in stderr
    return stderr


def test_the_walk_sees_every_command_group() -> None:
    heads = {path[0] for path, _ in COMMANDS}
    assert {
        "init",
        "serve",
        "status",
        "decide",
        "decisions",
        "user",
        "apikey",
        "location",
        "transfer",
        "capture",
        "aip",
    } <= heads
    assert len(COMMANDS) >= 27


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_unknown_option_is_one_line(
    path: list[str], cmd: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*path, "--no-such-option"]
    code, out, err = run(argv, capsys)
    line = assert_one_line(code, err, argv)
    assert "--no-such-option" in line and out == ""


WITH_ARGUMENTS = [(path, cmd) for path, cmd in COMMANDS if bad_arguments(cmd)]


@pytest.mark.parametrize(
    ("path", "cmd"), WITH_ARGUMENTS, ids=[" ".join(path) for path, _ in WITH_ARGUMENTS]
)
def test_bad_argument_is_one_line(
    path: list[str], cmd: Any, custos_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*path, *bad_arguments(cmd)]
    code, _out, err = run(argv, capsys)
    assert_one_line(code, err, argv)


@pytest.mark.parametrize(
    ("path", "cmd"), [c for c in COMMANDS if c[0] != ["init"]], ids=[i for i in IDS if i != "init"]
)
def test_missing_home_is_one_line(
    path: list[str],
    cmd: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CUSTOS_HOME", str(tmp_path / "missing"))
    argv = [*path, *bad_arguments(cmd)]
    code, _out, err = run(argv, capsys)
    assert_one_line(code, err, argv)
    assert not (tmp_path / "missing").exists()


def test_a_defect_is_one_line_with_the_details_logged(
    custos_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli.main

    def broken(_uuid: str) -> Any:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli.main, "status_data", broken)
    code, _out, err = run(["status", "x"], capsys)
    line = assert_one_line(code, err, ["status", "x"])
    assert "unexpected RuntimeError: boom" in line and "cli.log" in line
    log = custos_home / "logs" / "cli.log"
    assert "Traceback" in log.read_text() and "second line" in log.read_text()


def test_help_and_no_arguments_are_not_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["--help"], capsys)
    assert code == 0 and "transfer" in out
    code, out, err = run(["transfer"], capsys)  # a group alone shows its help
    assert code == 2 and "start" in out + err and "Traceback" not in out + err


BAD_VALUES = [
    (["transfer", "start", "{src}", "--type", "nope"], "error: unknown transfer type 'nope'"),
    (["transfer", "start", "{src}", "--name", "a/b"], "error: transfer name 'a/b' is not usable"),
    (["transfer", "start", "{src}/a.txt"], "error: a standard transfer needs a folder, a.txt"),
    (["transfer", "start", "{src}", "--type", "zipfile"], "error: a zipfile transfer needs a file"),
    (["apikey", "list", "--user", "nobody"], "error: no user named 'nobody'"),
    (["capture", "show", "ZZZZ-2222"], "error: no capture ZZZZ-2222"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_a_bad_value_is_named_before_asking_for_a_serve(
    argv: list[str],
    message: str,
    custos_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a serve and without --wait, bad input is still what the line names
    (not "no custos serve is running"), and nothing is recorded."""
    from sqlmodel import select

    from custos.db import session_scope
    from custos.models import Unit

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    argv = [a.format(src=src) for a in argv]
    with session_scope() as s:
        before = len(s.exec(select(Unit)).all())
    code, out, err = run(argv, capsys)
    assert_one_line(code, err, argv)
    assert err.startswith(message) and out == ""
    with session_scope() as s:
        assert len(s.exec(select(Unit)).all()) == before
