"""Archivematica's API-key authentication (tastypie's ``ApiKeyAuthentication``).

Credentials come from ``Authorization: ApiKey <username>:<key>``, else from the
``username``/``api_key`` query parameters, else from the same fields of a form
body (JSON bodies are not searched). Any failure is 403 ``API key not valid.``;
a valid key whose owner's role does not allow the endpoint (``requires``, see
``api.roles``) is 403 too, with a message naming the role.

Successful look-ups (user id, role, and the key's expiry) are cached in each API
process for ``CACHE_SECONDS`` (keyed by a SHA-256 of user and key, never the key
itself), so a polling client costs no database query per request; a cache hit is
answered on the event loop without a thread hop. Consequences, by design:

- a key that expires (ArchiveBox's ``get_api_token`` tokens) is refused from its
  expiry on, cached or not;
- revoking a key, deactivating its user or changing their role with ``custos
  apikey revoke`` / ``custos user deactivate`` / ``custos user set-role``
  (``custos.accounts``) takes effect at the next request on this host: every
  cache hit compares the identity of the credentials marker file
  (``credentials_generation``, one ``stat``) with the one seen when the entry
  was made. Any other change (another host sharing PostgreSQL, a row edited by hand)
  takes effect within ``CACHE_SECONDS``; ``clear_cache()`` empties this process's
  cache at once;
- a wrong key is never cached: every failed attempt is checked against the
  database, so a key created a moment ago works at once.

``custos.accounts.key_owner`` only reads; the key's ``last_used_at`` is written
in the background at most once a minute per key.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery
from starlette.concurrency import run_in_threadpool

from api import roles
from api.archivematica.errors import AMError
from api.roles import Access
from custos.accounts import Role, credentials_generation, key_owner

CACHE_SECONDS = 10.0
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

header_scheme = APIKeyHeader(
    name="Authorization", auto_error=False, description="`ApiKey <username>:<api key>`"
)
query_key_scheme = APIKeyQuery(
    name="api_key", auto_error=False, description="API key (with the `username` query parameter)"
)
query_user_scheme = APIKeyQuery(
    name="username", auto_error=False, description="User name (with the `api_key` query parameter)"
)


@dataclass(frozen=True)
class Principal:
    """Who a request authenticates as."""

    user_id: int
    role: Role


#: digest -> (entry's end on the monotonic clock, principal, credentials generation,
#: key's expiry as a POSIX time or None)
_cache: dict[str, tuple[float, Principal, tuple[int, int], float | None]] = {}
_cache_lock = threading.Lock()


def forbidden() -> AMError:
    """The 403 of a missing or wrong key."""
    return AMError(403, {"message": "API key not valid.", "error": True})


def role_refused(access: Access, role: Role) -> AMError:
    """The 403 of a valid key whose owner's role does not allow the endpoint."""
    return AMError(403, {"message": f"Forbidden: {roles.refusal(access, role)}.", "error": True})


def parse_header(value: str | None) -> tuple[str, str] | None:
    """``ApiKey user:key`` -> (user, key); anything else is ignored (None)."""
    if not value:
        return None
    kind, sep, data = value.partition(" ")
    if not sep or kind.lower() != "apikey":
        return None
    user, sep, key = data.strip().partition(":")
    return (user, key) if sep else None


def _digest(username: str, key: str) -> str:
    return hashlib.sha256(f"{username}\0{key}".encode()).hexdigest()


def _cached(digest: str) -> Principal | None:
    """Who these credentials were, if the cache entry is fresh and the key unexpired."""
    with _cache_lock:
        hit = _cache.get(digest)
    if (
        hit is not None
        and hit[0] > time.monotonic()
        and hit[2] == credentials_generation()
        and (hit[3] is None or hit[3] > time.time())
    ):
        return hit[1]
    return None


def cached_principal(username: str, key: str) -> Principal | None:
    """Who these credentials are, if cached and fresh (never a database query)."""
    return _cached(_digest(username, key))


def cached_user(username: str, key: str) -> int | None:
    """The user id cached for these credentials, if fresh (never a database query)."""
    who = cached_principal(username, key)
    return who.user_id if who is not None else None


def _lookup(username: str, key: str) -> Principal | None:
    """Who these credentials are (cache, else database), else None."""
    digest = _digest(username, key)
    cached = _cached(digest)
    if cached is not None:
        return cached
    now = time.monotonic()
    generation = credentials_generation()  # before the read: a later change invalidates
    owner = key_owner(key, username)
    if owner is None or owner.user.id is None:
        return None
    who = Principal(owner.user.id, owner.role)
    expires = owner.expires.timestamp() if owner.expires is not None else None
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (now + CACHE_SECONDS, who, generation, expires)
    return who


def clear_cache() -> None:
    """Forget cached credentials (tests, key revocation)."""
    with _cache_lock:
        _cache.clear()


async def authenticated_principal(
    request: Request,
    authorization: str | None = Depends(header_scheme),
    api_key: str | None = Depends(query_key_scheme),
    username: str | None = Depends(query_user_scheme),
) -> Principal:
    """Who the request authenticates as, else 403."""
    creds = parse_header(authorization)
    if creds is None and username and api_key:
        creds = (username, api_key)
    if creds is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()
        f_user, f_key = form.get("username"), form.get("api_key")
        if isinstance(f_user, str) and isinstance(f_key, str) and f_user and f_key:
            creds = (f_user, f_key)
    if creds is None or not creds[0] or not creds[1]:
        raise forbidden()
    who = _cached(_digest(creds[0], creds[1]))  # hit: no thread hop, no query
    if who is None:
        who = await run_in_threadpool(_lookup, creds[0], creds[1])
    if who is None:
        raise forbidden()
    return who


async def authenticated_user(who: Principal = Depends(authenticated_principal)) -> int:
    """The id of the user the request authenticates as, else 403."""
    return who.user_id


def requires(access: Access) -> Any:
    """The dependency stating an endpoint's access (see ``api.roles``)."""
    return roles.requires(access, authenticated_principal, role_refused)
