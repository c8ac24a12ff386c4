"""``custos user ...`` and ``custos apikey ...``: users, roles, passwords and keys.

Every user has one role (``admin``, ``archivist``, ``capture``, ``auditor``; see
docs/roles.md). Withdrawing credentials (revoking a key, deactivating a user,
changing a role) takes effect at the API's next request on this host (see
``custos.accounts``).

Example::

    custos user create alice --role archivist
    printf '%s\\n' "$PASSWORD" | custos user set-password alice --password-stdin
    custos apikey create --user alice
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from cli.main import JsonOption, _open_db, _settings, apikey_app, cli_errors, emit, err, user_app
from custos.errors import InvalidInput, NotFound
from custos.models import ApiKey, User
from custos.models.accounts import Role

ROLE_HELP = "One of: " + ", ".join(r.value for r in Role) + " (see docs/roles.md)."
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input."
    ),
]


def _user_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "admin": user.is_admin,
        "active": user.is_active,
        "has_password": bool(user.password_hash),
        "created_at": user.created_at,
    }


def _key_dict(key: ApiKey, username: str) -> dict[str, Any]:
    return {
        "id": key.id,
        "user": username,
        "prefix": key.prefix,
        "label": key.label,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked": key.revoked,
    }


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice without echo."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n") if line else ""
        if not password:
            raise InvalidInput("no password on standard input (one line is expected)")
        return password
    try:
        first = getpass.getpass("New password: ")
        second = getpass.getpass("Repeat the password: ")
    except (EOFError, KeyboardInterrupt) as exc:
        raise InvalidInput("no password given") from exc
    if first != second:
        raise InvalidInput("the two passwords differ; nothing was changed")
    return first


@user_app.command("create")
def user_create(
    name: str,
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)],
    password_stdin: PasswordStdin = False,
    email: Annotated[str, typer.Option(help="E-mail address.")] = "",
    json_out: JsonOption = False,
) -> None:
    """Create a user with a role (and, with --password-stdin, a password)."""
    with cli_errors(json_out):
        from custos.accounts import create_user, parse_role

        chosen = parse_role(role)  # before reading a password for nothing
        password = read_password(True) if password_stdin else None
        engine = _open_db(_settings())
        user = create_user(name, role=chosen, email=email, password=password, engine=engine)
        emit(json_out, _user_dict(user), f"created user {user.username} ({user.role})")


@user_app.command("set-role")
def user_set_role(
    name: str,
    role: Annotated[str, typer.Argument(help=ROLE_HELP)],
    json_out: JsonOption = False,
) -> None:
    """Change a user's role (effective at the API's next request on this host)."""
    with cli_errors(json_out):
        from custos.accounts import set_role

        settings = _settings()
        user = set_role(name, role, _open_db(settings), settings.run_dir)
        emit(json_out, _user_dict(user), f"user {user.username} now has the role {user.role}")


@user_app.command("set-password")
def user_set_password(
    name: str, password_stdin: PasswordStdin = False, json_out: JsonOption = False
) -> None:
    """Set a user's password (asked twice unless --password-stdin)."""
    with cli_errors(json_out):
        from custos.accounts import set_password, user_by_name

        engine = _open_db(_settings())
        if user_by_name(name, engine) is None:  # before asking for a password
            raise NotFound(f"no user named {name!r}")
        user = set_password(name, read_password(password_stdin), engine)
        emit(json_out, _user_dict(user), f"password of {user.username} set")


@user_app.command("list")
def user_list(json_out: JsonOption = False) -> None:
    """List users with their roles."""
    with cli_errors(json_out):
        from custos.accounts import list_users

        users = list_users(_open_db(_settings()))
        table = Table("id", "user", "role", "active", "password", "e-mail", title="Users")
        for u in users:
            table.add_row(
                str(u.id),
                u.username,
                u.role,
                "yes" if u.is_active else "no",
                "yes" if u.password_hash else "",
                u.email,
            )
        emit(json_out, [_user_dict(u) for u in users], table)


def _set_active(name: str, active: bool, json_out: bool) -> None:
    with cli_errors(json_out):
        from custos.accounts import set_user_active

        settings = _settings()
        user = set_user_active(name, active, _open_db(settings), settings.run_dir)
        emit(
            json_out,
            _user_dict(user),
            f"{'activated' if active else 'deactivated'} user {user.username}",
        )


@user_app.command("deactivate")
def user_deactivate(name: str, json_out: JsonOption = False) -> None:
    """Deactivate a user: none of their keys works any more (at once on this host)."""
    _set_active(name, False, json_out)


@user_app.command("activate")
def user_activate(name: str, json_out: JsonOption = False) -> None:
    """Activate a user again (their keys that are not revoked work again)."""
    _set_active(name, True, json_out)


@apikey_app.command("create")
def apikey_create(
    user: Annotated[str, typer.Option("--user", help="Owner (created when missing).")],
    role: Annotated[
        str | None,
        typer.Option(
            "--role", help="Role of the owner when it is created (default archivist). " + ROLE_HELP
        ),
    ] = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
    json_out: JsonOption = False,
) -> None:
    """Create an API key (shown once; only its hash is stored)."""
    with cli_errors(json_out):
        from custos.accounts import create_api_key, get_or_create_user, parse_role

        chosen = parse_role(role) if role is not None else Role.ARCHIVIST
        engine = _open_db(_settings())
        owner, created = get_or_create_user(user, engine=engine, role=chosen)
        if role is not None and owner.role != chosen:
            raise InvalidInput(
                f"user {owner.username!r} has the role {owner.role}, not "
                f"{chosen}: change it with `custos user set-role`"
            )
        assert owner.id is not None
        key = create_api_key(owner.id, label=label, engine=engine)
        if not json_out:
            if created:
                err.print(f"created user {owner.username} ({owner.role})")
            err.print("the key is shown once; store it now")
        emit(
            json_out,
            {"user": owner.username, "user_created": created, "role": owner.role, "key": key},
            key,
        )


@apikey_app.command("list")
def apikey_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List API keys (their prefix only: the keys themselves are not stored)."""
    with cli_errors(json_out):
        from custos.accounts import list_api_keys

        keys = list_api_keys(user, _open_db(_settings()))
        table = Table(
            "id", "user", "prefix", "label", "created", "last used", "revoked", title="API keys"
        )
        for key, name in keys:
            table.add_row(
                str(key.id),
                name,
                key.prefix,
                key.label,
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
                "yes" if key.revoked else "",
            )
        emit(json_out, [_key_dict(k, n) for k, n in keys], table)


@apikey_app.command("revoke")
def apikey_revoke(
    key: Annotated[
        str,
        typer.Argument(
            help="The key's id (see `custos apikey list`), "
            "its 8-character prefix, or the key itself."
        ),
    ],
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key: it stops working at once on this host."""
    with cli_errors(json_out):
        from custos.accounts import revoke_api_key

        settings = _settings()
        row = revoke_api_key(key, _open_db(settings), settings.run_dir)
        emit(
            json_out,
            {"id": row.id, "prefix": row.prefix, "revoked": row.revoked},
            f"revoked API key {row.id} ({row.prefix}…)",
        )
