"""Who is calling: Perma's ``api_key`` parameter (query or form, checked first) or
``Authorization: ApiKey <key>``; request bodies as JSON or form data.

A missing or bad key (revoked, expired, or its user inactive) is Perma's 401; a
valid key whose owner's role does not allow the route (``requires``, see
``api.roles``: the ``capture`` and ``admin`` roles) is Perma's 403. Which captures
a capture user may see and change is ``custos.captures``' rule: their own and
their organisations'.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api import roles
from api.roles import Access
from custos.accounts import Role, user_for_key
from custos.errors import Forbidden, InvalidInput
from custos.models import User

from .errors import Unauthenticated

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def payload(request: Request) -> dict[str, Any]:
    """The request body as a dict, from JSON or form data (empty when there is none)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(FORM_TYPES):
        form = await request.form()
        return {k: v for k, v in form.items() if k != "api_key"}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise InvalidInput("JSON parse error", {"detail": f"JSON parse error - {exc}"}) from exc
    if not isinstance(data, dict):
        raise InvalidInput("bad body", {"error": ["Expected a JSON object."]})
    return data


async def current_user(request: Request) -> User:
    """The authenticated user, or a 401 with Perma's message."""
    key = request.query_params.get("api_key")
    if (
        key is None
        and request.method == "POST"
        and request.headers.get("content-type", "").startswith(FORM_TYPES)
    ):
        value = (await request.form()).get("api_key")
        key = value if isinstance(value, str) else None
    if key is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "apikey" and token.strip():
            key = token.strip()
    if key is None:
        raise Unauthenticated("Authentication credentials were not provided.")
    user = await run_in_threadpool(user_for_key, key)
    if user is None:
        raise Unauthenticated("Invalid token.")
    return user


def role_refused(access: Access, role: Role) -> Forbidden:
    """Perma's 403 (its body is always ``You do not have permission ...``)."""
    return Forbidden(roles.refusal(access, role))


def requires(access: Access) -> Any:
    """The dependency stating an endpoint's access (see ``api.roles``)."""
    return roles.requires(access, current_user, role_refused)
