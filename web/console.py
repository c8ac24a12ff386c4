"""What every console page is built from: its router, its templates, its user.

A page group is one module of ``web.pages`` exposing ``router`` (made by
``page_router()``) and ``NAV`` (its navigation entries); it is registered by one
line in ``web.pages.PAGES``. A page handler states who may see it with
``Depends(requires(Access.X))`` (the rule table of ``custos.access``, the same as
the API's) and answers with ``render(request, "group/page.html", {...})``.

Every route of a page router is a ``ConsoleRoute``: it checks the CSRF token of
every request that is not GET/HEAD before the handler runs, turns ``SignInNeeded``
into a redirect to the sign-in page and ``Refused``/``CustosError`` into an error
page, and sets the security headers (CSP without inline scripts) on every
response. Console routes are left out of the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from custos.access import Access, allows
from custos.db import get_engine
from custos.errors import Conflict, CustosError, Forbidden, InvalidInput, NotFound
from custos.models import User
from custos.sessions import user_of_session
from web import fragments, security

TEMPLATES = Path(__file__).parent / "templates"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.globals.update(fragments.GLOBALS)


@dataclass(frozen=True)
class NavItem:
    """One entry of the navigation: shown to the roles ``access`` admits."""

    label: str
    path: str
    access: Access
    order: int = 50


class SignInNeeded(Exception):
    """No valid session: the browser is sent to the sign-in page."""


class Refused(Exception):
    """Signed in, but the role may not do this (403 page)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def _load_user(user_id: int, sid: str) -> User | None:
    """The session's user; None when the session was signed out (``custos.sessions``)."""
    return user_of_session(user_id, sid, get_engine())


async def current_session(request: Request) -> tuple[User, security.Session] | None:
    """The signed-in user and session, or None (cached on the request)."""
    if "console_user" in request.scope:
        found: tuple[User, security.Session] | None = request.scope["console_user"]
        return found
    found = None
    session = security.read_session(request.cookies.get(security.SESSION_COOKIE))
    if session is not None:
        user = await run_in_threadpool(_load_user, session.user_id, session.sid)
        if (
            user is not None
            and user.is_active
            and security.password_fingerprint(user.password_hash) == session.fingerprint
        ):
            found = (user, session)
    request.scope["console_user"] = found
    return found


def requires(access: Access) -> Callable[[Request], Coroutine[Any, Any, User]]:
    """A dependency: the signed-in user whose role ``access`` admits."""

    async def check(request: Request) -> User:
        found = await current_session(request)
        if found is None:
            raise SignInNeeded()
        user = found[0]
        if not allows(access, user.role):
            raise Refused(f"Your role ({user.role}) may not use this page.")
        return user

    return check


def signed_in() -> Any:
    """``Depends`` on any signed-in user (every role)."""
    return Depends(requires(Access.PUBLIC))


def _csrf_sid(request: Request) -> str | None:
    found = request.scope.get("console_user")
    if found:
        sid: str = found[1].sid
        return sid
    return request.cookies.get(security.PRESESSION_COOKIE)


async def _csrf_ok(request: Request) -> bool:
    if not security.same_origin(request):
        return False
    await current_session(request)
    token = request.headers.get(security.CSRF_HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(security.CSRF_FIELD)
            token = value if isinstance(value, str) else None
    return security.csrf_valid(_csrf_sid(request), token)


def error_status(exc: CustosError) -> int:
    """The HTTP status of a core error shown as a page."""
    for kind, status in ((NotFound, 404), (InvalidInput, 400), (Conflict, 409), (Forbidden, 403)):
        if isinstance(exc, kind):
            return status
    return 500


def error_page(request: Request, status: int, message: str) -> Response:
    """The console's error page."""
    return render(request, "error.html", {"message": message}, status_code=status)


class ConsoleRoute(APIRoute):
    """A console route: CSRF check, sign-in redirect, error pages, security headers.

    ``custos_console`` tells ``api.roles`` (which lists the API's routes and their
    access) that this is a page, not an endpoint.
    """

    custos_console = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS and not await _csrf_ok(request):
                    response = error_page(
                        request,
                        403,
                        "This form has expired or did not come from this site: "
                        "reload the page and try again.",
                    )
                else:
                    response = await handler(request)
            except SignInNeeded:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
                if request.headers.get("hx-request"):
                    response = Response(status_code=204, headers={"HX-Redirect": "/signin"})
            except Refused as exc:
                response = error_page(request, exc.status, str(exc))
            except CustosError as exc:
                response = error_page(request, error_status(exc), str(exc))
            except RequestValidationError as exc:
                fields = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
                response = error_page(request, 400, f"The form is missing or has bad: {fields}.")
            except HTTPException as exc:
                response = error_page(request, exc.status_code, str(exc.detail))
            return security.add_headers(response)

        return console_handler


def page_router() -> APIRouter:
    """The router of a page group (console routes, not in the OpenAPI schema)."""
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def navigation(role: str) -> list[NavItem]:
    """The navigation entries ``role`` may use, in order."""
    from web.pages import PAGES

    items = [item for page in PAGES for item in getattr(page, "NAV", ())]
    return sorted((i for i in items if allows(i.access, role)), key=lambda i: (i.order, i.label))


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page (or an htmx fragment) rendered with the user, the navigation and CSRF token.

    Templates see ``user`` (None before sign-in), ``nav``, ``csrf_token``, ``can(access)``
    (the user's role allows it), ``Access`` and ``current`` (the request's path).
    """
    found = request.scope.get("console_user")
    user: User | None = found[0] if found else None
    sid = _csrf_sid(request)
    new_presession = None
    if sid is None:
        sid = new_presession = security.new_presession()
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "nav": navigation(user.role) if user else [],
        "csrf_token": security.csrf_token(sid),
        "csrf_field": security.CSRF_FIELD,
        "can": (lambda access: user is not None and allows(access, user.role)),
        "Access": Access,
        "current": request.url.path,
    }
    values.update(context or {})
    response = templates.TemplateResponse(
        request, template, values, status_code=status_code, headers=dict(headers or {})
    )
    if new_presession is not None:
        security.set_cookie(
            response, request, security.PRESESSION_COOKIE, new_presession, security.SESSION_SECONDS
        )
        request.cookies[security.PRESESSION_COOKIE] = new_presession
    return response
