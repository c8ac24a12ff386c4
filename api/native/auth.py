"""API-key authentication for the native endpoints.

The same keys as every dialect (``custos apikey create``), sent as
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from starlette.concurrency import run_in_threadpool

from api.native.errors import NotAuthenticated
from custos.accounts import user_for_key
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
        raise NotAuthenticated("a valid API key is required (Authorization: Bearer <key> "
                               "or X-API-Key)")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
