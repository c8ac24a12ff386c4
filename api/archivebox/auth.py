"""Who is calling: ``X-ArchiveBox-API-Key``, ``Authorization: Bearer``, ``?api_key=``
or HTTP Basic (username and password), tried in that order; superusers only."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from fastapi import Request
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from custos.accounts import PREFIX_LEN, check_password, hash_key, note_key_use, user_by_name
from custos.db import session_scope
from custos.errors import Forbidden
from custos.models import ApiKey, User, utcnow
from custos.models.perma import ApiKeyExpiry

from .errors import SUPERUSER_ONLY, Unauthenticated

EMPTY = ("", "string", "None", "null")


def key_user(token: str) -> tuple[User, ApiKey, ApiKeyExpiry | None] | None:
    """The active user of an unrevoked, unexpired key."""
    if not token or len(token) < PREFIX_LEN:
        return None
    import hmac

    wanted = hash_key(token)
    with session_scope() as s:
        for key, user in s.exec(select(ApiKey, User).join(User, col(User.id) == col(
                ApiKey.user_id)).where(col(ApiKey.prefix) == token[:PREFIX_LEN],
                                       col(ApiKey.revoked).is_(False))).all():
            if not hmac.compare_digest(key.key_hash, wanted) or not user.is_active:
                continue
            expiry = s.get(ApiKeyExpiry, key.id)
            if expiry is not None and _aware(expiry.expires) <= utcnow():
                return None
            note_key_use(key)
            return user, key, expiry
    return None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _basic(header: str) -> User | None:
    try:
        decoded = base64.b64decode(header, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, password = decoded.partition(":")
    user = user_by_name(username)
    if user is None or not user.is_active or not check_password(password, user.password_hash):
        return None
    return user


def _resolve(request: Request) -> tuple[User, dict[str, str]] | None:
    header_key = request.headers.get("x-archivebox-api-key", "")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    candidates = [("APIKeyHeaderAuth", header_key),
                  ("BearerTokenAuth", value.strip() if scheme.lower() == "bearer" else ""),
                  ("QueryParamTokenAuth", request.query_params.get("api_key", ""))]
    for method, token in candidates:
        if token in EMPTY:
            continue
        found = key_user(token)
        if found is not None:
            user, key, expiry = found
            return user, {"X-ArchiveBox-Auth-Method": method,
                          "X-ArchiveBox-Auth-Expires":
                          expiry.expires.isoformat() if expiry else "Never",
                          "X-ArchiveBox-Auth-Token-Id": str(key.id)}
    if scheme.lower() == "basic":
        basic_user = _basic(value.strip())
        if basic_user is not None:
            return basic_user, {"X-ArchiveBox-Auth-Method": "UsernameAndPasswordAuth",
                          "X-ArchiveBox-Auth-Expires": "Never"}
    return None


async def superuser(request: Request) -> User:
    """The authenticated superuser; 401 without valid credentials, 403 for others."""
    found = await run_in_threadpool(_resolve, request)
    if found is None:
        raise Unauthenticated("Unauthorized")
    user, headers = found
    headers.update({"X-ArchiveBox-Auth-User-Id": str(user.id),
                    "X-ArchiveBox-Auth-User-Username": user.username})
    request.state.archivebox_auth = headers
    if not user.is_admin:
        raise Forbidden(SUPERUSER_ONLY)
    return user
