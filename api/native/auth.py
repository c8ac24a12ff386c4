"""API-key authentication for the native endpoints.

The same keys as every dialect (``custos apikey create``), sent as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A missing, revoked or
expired key is 401; a valid key whose owner's role does not allow the route
(``requires``, see ``api.roles``) is 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from api import roles
from api.native.errors import NotAuthenticated
from api.roles import Access
from custos.accounts import Role, user_for_key
from custos.errors import Forbidden
from custos.models import User


async def current_user(
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> User:
    """The user owning the request's key; 401 without a valid one."""
    key = x_api_key or ""
    if not key and authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            key = value.strip()
    user = await run_in_threadpool(user_for_key, key) if key else None
    if user is None:
        raise NotAuthenticated(
            "a valid API key is required (Authorization: Bearer <key> or X-API-Key)"
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def role_refused(access: Access, role: Role) -> Forbidden:
    """The native 403 (``{"error": "Forbidden", "message": ...}``)."""
    return Forbidden(roles.refusal(access, role))


def requires(access: Access) -> Any:
    """The dependency stating an endpoint's access (see ``api.roles``)."""
    return roles.requires(access, current_user, role_refused)
