"""``custos user list|activate|deactivate`` and ``custos apikey list|revoke``.

``create`` of both groups lives in ``custos.cli``. Withdrawing credentials
(revoking a key, deactivating a user) takes effect at the API's next request on
this host (see ``custos.accounts``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from custos.cli import JsonOption, _open_db, _settings, apikey_app, cli_errors, emit, user_app
from custos.models import ApiKey, User


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "email": user.email,
            "admin": user.is_admin, "active": user.is_active, "created_at": user.created_at}


def _key_dict(key: ApiKey, username: str) -> dict[str, Any]:
    return {"id": key.id, "user": username, "prefix": key.prefix, "label": key.label,
            "created_at": key.created_at, "last_used_at": key.last_used_at,
            "revoked": key.revoked}


@user_app.command("list")
def user_list(json_out: JsonOption = False) -> None:
    """List users."""
    with cli_errors(json_out):
        from custos.accounts import list_users

        users = list_users(_open_db(_settings()))
        table = Table("id", "user", "admin", "active", "e-mail", title="Users")
        for u in users:
            table.add_row(str(u.id), u.username, "yes" if u.is_admin else "",
                          "yes" if u.is_active else "no", u.email)
        emit(json_out, [_user_dict(u) for u in users], table)


def _set_active(name: str, active: bool, json_out: bool) -> None:
    with cli_errors(json_out):
        from custos.accounts import set_user_active

        settings = _settings()
        user = set_user_active(name, active, _open_db(settings), settings.run_dir)
        emit(json_out, _user_dict(user),
             f"{'activated' if active else 'deactivated'} user {user.username}")


@user_app.command("deactivate")
def user_deactivate(name: str, json_out: JsonOption = False) -> None:
    """Deactivate a user: none of their keys works any more (at once on this host)."""
    _set_active(name, False, json_out)


@user_app.command("activate")
def user_activate(name: str, json_out: JsonOption = False) -> None:
    """Activate a user again (their keys that are not revoked work again)."""
    _set_active(name, True, json_out)


@apikey_app.command("list")
def apikey_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List API keys (their prefix only: the keys themselves are not stored)."""
    with cli_errors(json_out):
        from custos.accounts import list_api_keys

        keys = list_api_keys(user, _open_db(_settings()))
        table = Table("id", "user", "prefix", "label", "created", "last used", "revoked",
                      title="API keys")
        for key, name in keys:
            table.add_row(str(key.id), name, key.prefix, key.label,
                          f"{key.created_at:%Y-%m-%d %H:%M}",
                          f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
                          "yes" if key.revoked else "")
        emit(json_out, [_key_dict(k, n) for k, n in keys], table)


@apikey_app.command("revoke")
def apikey_revoke(
    key: Annotated[str, typer.Argument(help="The key's id (see `custos apikey list`), "
                                       "its 8-character prefix, or the key itself.")],
    json_out: JsonOption = False,
) -> None:
    """Revoke an API key: it stops working at once on this host."""
    with cli_errors(json_out):
        from custos.accounts import revoke_api_key

        settings = _settings()
        row = revoke_api_key(key, _open_db(settings), settings.run_dir)
        emit(json_out, {"id": row.id, "prefix": row.prefix, "revoked": row.revoked},
             f"revoked API key {row.id} ({row.prefix}…)")
