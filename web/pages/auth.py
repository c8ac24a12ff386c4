"""Sign-in and sign-out (``/signin``, ``/signout``).

Username and password of a Custos user (``custos user create``, scrypt hashes,
``custos.accounts.authenticate``); attempts limited per user name and address
(``web.ratelimit``). A successful sign-in sets the session cookie and goes to the
page asked for (only a path of this site).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from custos import sessions
from custos.accounts import authenticate
from web import ratelimit, security
from web.console import current_session, page_router, render

router = page_router()
NAV: list = []


def _next(target: str | None) -> str:
    """Only a local path: never send the browser to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/signin")
async def signin_page(request: Request, next: str = "/") -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    return render(request, "signin.html", {"next": _next(next), "error": None, "username": ""})


@router.post("/signin")
async def signin(
    request: Request,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    address = _address(request)
    username = username.strip()
    wait = await run_in_threadpool(ratelimit.wait_seconds, username, address)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        message = f"Too many failed sign-ins: try again in {minutes} minute(s)."
        context = {"next": _next(next), "error": message, "username": username}
        return render(
            request, "signin.html", context, status_code=429, headers={"Retry-After": str(wait)}
        )
    user = await run_in_threadpool(authenticate, username, password)
    if user is None or user.id is None:
        await run_in_threadpool(ratelimit.failed, username, address)
        context = {
            "next": _next(next),
            "error": "Unknown user name or wrong password.",
            "username": username,
        }
        return render(request, "signin.html", context, status_code=401)
    await run_in_threadpool(ratelimit.succeeded, username, address)
    _session, cookie = security.make_session(user.id, user.password_hash)
    response = RedirectResponse(_next(next), status_code=303)
    security.set_cookie(
        response, request, security.SESSION_COOKIE, cookie, security.SESSION_SECONDS
    )
    response.delete_cookie(security.PRESESSION_COOKIE, path="/")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """Sign out: the session is ended on the server too, so a copy of the cookie
    is refused from now on."""
    found = await current_session(request)
    if found is not None:
        user, session = found
        expires = sessions.expiry(session.issued, security.SESSION_SECONDS)
        await run_in_threadpool(sessions.end_session, session.sid, user.id or 0, expires)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response
