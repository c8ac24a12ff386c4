"""Sessions, CSRF tokens and the console's security headers.

A session is a signed cookie (``custos_session``: HttpOnly, SameSite=Lax, Secure
when the request came over HTTPS), holding the user's id, a random session id,
its issue time and a fingerprint of the user's password hash; it is signed with
HMAC-SHA256 under the console key (``<home>/console.key``, made on first use,
or ``CUSTOS_CONSOLE_KEY``). Every request loads the user again: a deactivated
user, a changed role or a changed password takes effect at once; a session ends
``SESSION_SECONDS`` after sign-in, or when the user signs out: sign-out records the
session id as ended (``custos.sessions``), so a copy of the cookie is refused too.

CSRF: every form carries ``csrf_token`` and every htmx request sends it as
``X-CSRF-Token`` (``hx-headers`` on ``<body>``); it is an HMAC of the session id
(before sign-in, of a random ``custos_presession`` cookie), compared in constant
time. A request whose ``Origin`` names another site is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from custos.settings import get_settings

SESSION_COOKIE = "custos_session"
PRESESSION_COOKIE = "custos_presession"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
KEY_ENV = "CUSTOS_CONSOLE_KEY"

#: No inline script, no eval, nothing from another origin; no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_key: tuple[Path, bytes] | None = None


def console_key() -> bytes:
    """The signing key: ``CUSTOS_CONSOLE_KEY`` or ``<home>/console.key`` (made once, 0600)."""
    global _key
    configured = os.environ.get(KEY_ENV, "")
    if configured:
        return configured.encode()
    path = get_settings().home / "console.key"
    if _key is not None and _key[0] == path:
        return _key[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    value = path.read_text().strip().encode()
    _key = (path, value)
    return value


def _sign(payload: bytes) -> str:
    return hmac.new(console_key(), payload, hashlib.sha256).hexdigest()


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash: a new password ends older sessions."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Session:
    """A valid session cookie's content."""

    user_id: int
    sid: str
    issued: int
    fingerprint: str


def make_session(user_id: int, password_hash: str | None) -> tuple[Session, str]:
    """A fresh session and its cookie value."""
    session = Session(user_id, secrets.token_urlsafe(18), int(time.time()), "")
    session = Session(
        session.user_id, session.sid, session.issued, password_fingerprint(password_hash)
    )
    body = json.dumps([session.user_id, session.sid, session.issued, session.fingerprint])
    data = base64.urlsafe_b64encode(body.encode()).decode()
    return session, f"{data}.{_sign(data.encode())}"


def read_session(value: str | None) -> Session | None:
    """The session of a cookie value when its signature holds and it has not expired."""
    if not value or "." not in value:
        return None
    data, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature, _sign(data.encode())):
        return None
    try:
        user_id, sid, issued, fingerprint = json.loads(base64.urlsafe_b64decode(data))
        session = Session(int(user_id), str(sid), int(issued), str(fingerprint))
    except (ValueError, TypeError):
        return None
    if not 0 <= time.time() - session.issued < SESSION_SECONDS:
        return None
    return session


def csrf_token(sid: str) -> str:
    """The CSRF token of a session (or pre-session) id."""
    return _sign(f"csrf:{sid}".encode())


def csrf_valid(sid: str | None, token: str | None) -> bool:
    """Whether ``token`` is the CSRF token of ``sid``."""
    return bool(sid and token) and hmac.compare_digest(csrf_token(sid or ""), token or "")


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or via a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    """Set a console cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=age,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def same_origin(request: Request) -> bool:
    """False when the request names another origin (``Origin`` header) than ours."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def add_headers(response: Response) -> Response:
    """The console's security headers (CSP and friends) on ``response``."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def new_presession() -> str:
    """A random id for the CSRF token of a browser not signed in yet."""
    return secrets.token_urlsafe(18)
