"""Users, their roles, passwords and API keys.

Each user has one role (``custos.models.accounts.Role``: admin, archivist,
capture, auditor); what each role may do over HTTP is stated per endpoint in
``api.roles`` and listed in docs/roles.md. Changing a role takes effect at the
next request on this host, like a revocation (see below).

A key is 40 random hex characters, shown once at creation. Only its SHA-256 is
stored, with the first 8 characters as a lookup prefix; comparisons use
``hmac.compare_digest`` so timing does not leak how much of a key matched.
The same key works in every dialect (Archivematica ``ApiKey user:key``, Perma
``ApiKey key``, ArchiveBox bearer token, native ``Bearer``). A key may expire
(ArchiveBox's ``get_api_token`` hands out 30-day tokens): an expired key is
refused everywhere, like a revoked one.

Passwords (used by ArchiveBox's username-and-password logins) are hashed by
``custos.passwords`` (scrypt); ``authenticate`` costs the same whether or not the
user exists, and replaces an older hash at the next successful login.

Revoking a key, (de)activating a user or changing a role goes through
``revoke_api_key`` / ``set_user_active`` / ``set_role``, which also replace a
marker file in the home's ``run`` folder: the API's credential caches compare its
identity on every hit (``credentials_generation``, one ``stat``), so on this host
the change takes effect at the next request, in every worker. Other hosts sharing
a PostgreSQL database see it when their cache entry expires (10 s).

Checking a key only reads; its ``last_used_at`` is written in the background
(``custos.keyuse``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from custos import keyuse, passwords
from custos.db import get_engine, session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import ApiKey, User, utcnow
from custos.models.accounts import Role
from custos.models.perma import ApiKeyExpiry
from custos.settings import get_settings

__all__ = [
    "CREDENTIALS_MARKER",
    "PREFIX_LEN",
    "KeyOwner",
    "Role",
    "authenticate",
    "create_api_key",
    "create_user",
    "credentials_changed",
    "credentials_generation",
    "flush_key_use",
    "forget_key_use",
    "get_or_create_user",
    "hash_key",
    "key_owner",
    "list_api_keys",
    "list_users",
    "note_key_use",
    "parse_role",
    "revoke_api_key",
    "set_password",
    "set_role",
    "set_user_active",
    "user_by_name",
    "user_for_key",
]

log = logging.getLogger(__name__)

PREFIX_LEN = 8
#: File in the home's ``run`` folder replaced whenever credentials are withdrawn.
CREDENTIALS_MARKER = "credentials-changed"
note_key_use = keyuse.note_key_use
flush_key_use = keyuse.flush_key_use
forget_key_use = keyuse.forget_key_use


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_role(value: str | Role) -> Role:
    """The role named ``value``; anything else is InvalidInput naming the choices."""
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}: choose one of {choices}") from None


def _check_username(username: str) -> None:
    if (
        not username
        or len(username) > 150
        or not username.replace("_", "")
        .replace("-", "")
        .replace(".", "")
        .replace("@", "")
        .isalnum()
    ):
        raise InvalidInput(f"invalid user name {username!r}: use letters, digits and . _ - @")


def _checked_password(password: str) -> str:
    problem = passwords.password_problem(password)
    if problem:
        raise InvalidInput(problem)
    return passwords.hash_password(password)


def create_user(
    username: str,
    *,
    role: Role | str = Role.ARCHIVIST,
    email: str = "",
    password: str | None = None,
    is_admin: bool = False,
    engine: Engine | None = None,
) -> User:
    """Create a user with ``role`` (``is_admin=True`` is short for the admin role).

    A taken name is a Conflict; a bad name, role or password is InvalidInput.
    """
    _check_username(username)
    chosen = Role.ADMIN if is_admin else parse_role(role)
    password_hash = _checked_password(password) if password is not None else None
    with session_scope(engine or get_engine()) as s:
        if s.exec(select(User).where(col(User.username) == username)).first():
            raise Conflict(f"user {username!r} already exists")
        user = User(username=username, email=email, role=chosen.value, password_hash=password_hash)
        s.add(user)
        s.flush()
        s.refresh(user)
        return user


def get_or_create_user(
    username: str, engine: Engine | None = None, role: Role | str = Role.ARCHIVIST
) -> tuple[User, bool]:
    """The user named ``username``, created with ``role`` when missing (second value: created)."""
    with session_scope(engine or get_engine()) as s:
        user = s.exec(select(User).where(col(User.username) == username)).first()
        if user is not None:
            return user, False
    return create_user(username, role=role, engine=engine), True


def _update_user(username: str, engine: Engine | None, **values: object) -> User:
    with session_scope(engine or get_engine()) as s:
        user = s.exec(select(User).where(col(User.username) == username)).first()
        if user is None:
            raise NotFound(f"no user named {username!r}")
        for name, value in values.items():
            setattr(user, name, value)
        s.flush()
        s.refresh(user)
        s.expunge(user)
        return user


def set_role(
    username: str, role: Role | str, engine: Engine | None = None, run_dir: Path | None = None
) -> User:
    """Give ``username`` the role ``role``; effective at the next request on this host."""
    user = _update_user(username, engine, role=parse_role(role).value)
    credentials_changed(run_dir)
    return user


def set_password(username: str, password: str, engine: Engine | None = None) -> User:
    """Set (or replace) the password of ``username``, hashed with scrypt."""
    return _update_user(username, engine, password_hash=_checked_password(password))


_dummy_hash: str | None = None


def authenticate(username: str, password: str, engine: Engine | None = None) -> User | None:
    """The active user ``username`` if ``password`` is theirs, else None.

    An unknown user costs one hash like a known one (no timing hint that the name
    exists). A correct password stored with an older algorithm or cost is hashed
    again with the current one.
    """
    global _dummy_hash
    engine = engine or get_engine()
    user = user_by_name(username, engine) if username else None
    stored = user.password_hash if user is not None else None
    if not stored:
        _dummy_hash = _dummy_hash or passwords.hash_password(secrets.token_hex(8))
        passwords.check_password(password, _dummy_hash)
        return None
    if user is None or not passwords.check_password(password, stored) or not user.is_active:
        return None
    if passwords.needs_rehash(stored):
        try:
            user = _update_user(username, engine, password_hash=passwords.hash_password(password))
        except (SQLAlchemyError, NotFound) as exc:  # the login still succeeds
            log.warning("could not upgrade the password hash of %s: %s", username, exc)
    return user


def create_api_key(
    user_id: int, label: str = "", engine: Engine | None = None, expires: datetime | None = None
) -> str:
    """Create a key for the user and return the secret (never stored in clear).

    With ``expires``, every dialect refuses the key from that moment on.
    """
    key = secrets.token_hex(20)
    with session_scope(engine or get_engine()) as s:
        row = ApiKey(user_id=user_id, prefix=key[:PREFIX_LEN], key_hash=hash_key(key), label=label)
        s.add(row)
        if expires is not None:
            s.flush()
            assert row.id is not None
            s.add(ApiKeyExpiry(api_key_id=row.id, expires=expires))
    return key


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class KeyOwner:
    """Who a valid key belongs to, which key it is, and until when it is valid."""

    user: User
    key_id: int
    expires: datetime | None

    @property
    def role(self) -> Role:
        """The owner's role."""
        return Role(self.user.role)


def key_owner(
    key: str, username: str | None = None, engine: Engine | None = None
) -> KeyOwner | None:
    """The active owner of ``key`` if it is neither revoked nor expired (and, when
    ``username`` is given, it is theirs); else None.

    Read-only: the key's ``last_used_at`` is refreshed in the background (see the
    module docstring), so this never waits for, nor fails on, a database write.
    """
    if not key or len(key) < PREFIX_LEN:
        return None
    wanted = hash_key(key)
    engine = engine or get_engine()
    now = utcnow()
    with session_scope(engine) as s:
        rows = s.exec(
            select(ApiKey, User, ApiKeyExpiry)
            .join(User, col(User.id) == col(ApiKey.user_id))
            .outerjoin(ApiKeyExpiry, col(ApiKeyExpiry.api_key_id) == col(ApiKey.id))
            .where(col(ApiKey.prefix) == key[:PREFIX_LEN], col(ApiKey.revoked).is_(False))
        ).all()
        found: KeyOwner | None = None
        for api_key, user, expiry in rows:
            expires = _aware(expiry.expires) if expiry is not None else None
            if (
                hmac.compare_digest(api_key.key_hash, wanted)
                and user.is_active
                and (username is None or user.username == username)
                and (expires is None or expires > now)
                and api_key.id is not None
            ):
                s.expunge(user)
                found = KeyOwner(user, api_key.id, expires)
                keyuse.note(engine, api_key.id, api_key.last_used_at)
        return found


def user_for_key(
    key: str, username: str | None = None, engine: Engine | None = None
) -> User | None:
    """The active user owning ``key`` (see ``key_owner``), else None."""
    owner = key_owner(key, username, engine)
    return owner.user if owner is not None else None


def user_by_name(username: str, engine: Engine | None = None) -> User | None:
    """The user named ``username``, else None."""
    with session_scope(engine or get_engine()) as s:
        return s.exec(select(User).where(col(User.username) == username)).first()


_marker: tuple[object, str] | None = None  # (settings object, marker path)


def _marker_path() -> str:
    """The marker's path under the current settings (worked out once per settings)."""
    global _marker
    settings = get_settings()
    known = _marker
    if known is None or known[0] is not settings:
        known = _marker = (settings, os.fspath(settings.run_dir / CREDENTIALS_MARKER))
    return known[1]


def credentials_generation() -> tuple[int, int]:
    """Identity of the credentials marker ((0, 0) before any change): one ``stat``."""
    try:
        st = os.stat(_marker_path())
    except FileNotFoundError:
        return (0, 0)
    return (st.st_ino, st.st_mtime_ns)


def credentials_changed(run_dir: Path | None = None) -> None:
    """Replace the marker (new inode and time), so every credential cache drops out."""
    run_dir = run_dir or get_settings().run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".{CREDENTIALS_MARKER}.{os.getpid()}"
    now = time.time_ns()
    tmp.write_text(f"{now}\n")
    os.utime(tmp, ns=(now, now))  # exact, not the file system's coarse clock tick
    os.replace(tmp, run_dir / CREDENTIALS_MARKER)


def list_users(engine: Engine | None = None) -> list[User]:
    """Every user, by name."""
    with session_scope(engine or get_engine()) as s:
        return list(s.exec(select(User).order_by(col(User.username))).all())


def set_user_active(
    username: str, active: bool, engine: Engine | None = None, run_dir: Path | None = None
) -> User:
    """(De)activate a user: an inactive user's keys stop working at once on this host."""
    user = _update_user(username, engine, is_active=active)
    if not active:
        credentials_changed(run_dir)
    return user


def list_api_keys(
    username: str | None = None, engine: Engine | None = None
) -> list[tuple[ApiKey, str]]:
    """Keys with their owner's name (only ``username``'s when given), oldest first.

    Raises:
        NotFound: there is no user named ``username``.
    """
    with session_scope(engine or get_engine()) as s:
        if (
            username is not None
            and s.exec(select(User.id).where(col(User.username) == username)).first() is None
        ):
            raise NotFound(f"no user named {username!r}")
        query = (
            select(ApiKey, User.username)
            .join(User, col(User.id) == col(ApiKey.user_id))
            .order_by(col(ApiKey.created_at), col(ApiKey.id))
        )
        if username is not None:
            query = query.where(col(User.username) == username)
        return [(key, name) for key, name in s.exec(query).all()]


def revoke_api_key(ident: str, engine: Engine | None = None, run_dir: Path | None = None) -> ApiKey:
    """Revoke the key whose id, prefix or full value is ``ident``; returns it.

    A prefix shared by several live keys is refused (give the id instead). The key
    stops working at once in every API process of this host.
    """
    with session_scope(engine or get_engine()) as s:
        if ident.isdigit() and len(ident) < PREFIX_LEN:  # an id (a prefix has 8 digits)
            keys = [k for k in [s.get(ApiKey, int(ident))] if k is not None]
        elif len(ident) < PREFIX_LEN:
            raise InvalidInput(f"give a key id or its {PREFIX_LEN}-character prefix")
        else:
            keys = list(
                s.exec(select(ApiKey).where(col(ApiKey.prefix) == ident[:PREFIX_LEN])).all()
            )
            if len(ident) > PREFIX_LEN:  # the whole key: match its hash
                wanted = hash_key(ident)
                keys = [k for k in keys if hmac.compare_digest(k.key_hash, wanted)]
        live = [k for k in keys if not k.revoked] or keys
        if not live:
            raise NotFound(f"no API key {ident!r}")
        if len(live) > 1:
            raise Conflict(
                f"{len(live)} keys start with {ident!r}: give the key's id "
                f"({', '.join(str(k.id) for k in live)})"
            )
        key = live[0]
        key.revoked = True
        s.flush()
        s.refresh(key)
        s.expunge(key)
    credentials_changed(run_dir)
    return key
