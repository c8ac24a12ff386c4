"""Who is calling: ``X-ArchiveBox-API-Key``, ``Authorization: Bearer``, ``?api_key=``
or HTTP Basic (username and password), tried in that order.

ArchiveBox admits superusers only; Custos admits the roles each route states with
``requires`` (``api.roles``: the ``capture`` and ``admin`` roles for captures,
``admin`` for the host's workers and machine). A capture user sees only their own
captures and those of their organisations (``scope``). Expired keys (the 30-day
tokens of ``get_api_token``) are refused like revoked ones.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import Request
from sqlmodel import Session, col
from sqlmodel.sql.expression import SelectOfScalar
from starlette.concurrency import run_in_threadpool

from api import roles
from api.roles import Access
from custos.accounts import KeyOwner, Role, authenticate, key_owner
from custos.captures import accessible_folder_ids
from custos.errors import Forbidden
from custos.models import Capture, Crawl, User

from .errors import Unauthenticated

EMPTY = ("", "string", "None", "null")


def key_user(token: str) -> KeyOwner | None:
    """The owner of an unrevoked, unexpired key of an active user."""
    return key_owner(token) if token not in EMPTY else None


def _basic(header: str) -> User | None:
    try:
        decoded = base64.b64decode(header, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return authenticate(username, password) if sep else None


def _resolve(request: Request) -> tuple[User, dict[str, str]] | None:
    header_key = request.headers.get("x-archivebox-api-key", "")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    candidates = [
        ("APIKeyHeaderAuth", header_key),
        ("BearerTokenAuth", value.strip() if scheme.lower() == "bearer" else ""),
        ("QueryParamTokenAuth", request.query_params.get("api_key", "")),
    ]
    for method, token in candidates:
        if token in EMPTY:
            continue
        owner = key_user(token)
        if owner is not None:
            return owner.user, {
                "X-ArchiveBox-Auth-Method": method,
                "X-ArchiveBox-Auth-Expires": owner.expires.isoformat()
                if owner.expires
                else "Never",
                "X-ArchiveBox-Auth-Token-Id": str(owner.key_id),
            }
    if scheme.lower() == "basic":
        basic_user = _basic(value.strip())
        if basic_user is not None:
            return basic_user, {
                "X-ArchiveBox-Auth-Method": "UsernameAndPasswordAuth",
                "X-ArchiveBox-Auth-Expires": "Never",
            }
    return None


async def current_user(request: Request) -> User:
    """The authenticated user; 401 without valid credentials."""
    found = await run_in_threadpool(_resolve, request)
    if found is None:
        raise Unauthenticated("Unauthorized")
    user, headers = found
    headers.update(
        {
            "X-ArchiveBox-Auth-User-Id": str(user.id),
            "X-ArchiveBox-Auth-User-Username": user.username,
        }
    )
    request.state.archivebox_auth = headers
    return user


def role_refused(access: Access, role: Role) -> Forbidden:
    """ArchiveBox's 403 wording, with the reason: the caller's role."""
    return Forbidden(
        f"Valid credentials but User does not have permission ({roles.refusal(access, role)})"
    )


def requires(access: Access) -> Any:
    """The dependency stating an endpoint's access (see ``api.roles``)."""
    return roles.requires(access, current_user, role_refused)


def crawl_scope(user: User, query: SelectOfScalar[Crawl]) -> SelectOfScalar[Crawl]:
    """``query`` (over ``Crawl``) narrowed to the crawls ``user`` may see: their own
    (every crawl for an admin)."""
    return query if user.is_admin else query.where(col(Crawl.created_by) == user.id)


def scope(session: Session, user: User, query: SelectOfScalar[Any]) -> SelectOfScalar[Any]:
    """``query`` (over ``Capture``) narrowed to the captures ``user`` may see.

    Admins see every capture; anyone else the captures in folders they own or
    that belong to one of their organisations, and folder-less ones they made.
    """
    if user.is_admin:
        return query
    folders = accessible_folder_ids(session, user) or [-1]
    return query.where(
        col(Capture.folder_id).in_(folders)
        | (col(Capture.folder_id).is_(None) & (col(Capture.created_by) == user.id))
    )
