"""Users and API keys.

A key is 40 random hex characters, shown once at creation. Only its SHA-256 is
stored, with the first 8 characters as a lookup prefix; comparisons use
``hmac.compare_digest`` so timing does not leak how much of a key matched.
The same key works in every dialect (Archivematica ``ApiKey user:key``, Perma
``ApiKey key``, ArchiveBox bearer token).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import Conflict, InvalidInput
from custos.models import ApiKey, User, utcnow

PREFIX_LEN = 8


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """PBKDF2-SHA256 password hash as ``pbkdf2$<iterations>$<salt hex>$<hash hex>``."""
    salt = salt or secrets.token_bytes(16)
    iterations = 200_000
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2${iterations}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Constant-time check of a password against its stored hash."""
    if not stored or not stored.startswith("pbkdf2$"):
        return False
    _, iterations, salt_hex, digest_hex = stored.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt_hex),
                                 int(iterations))
    return hmac.compare_digest(digest.hex(), digest_hex)


def create_user(username: str, *, email: str = "", is_admin: bool = False,
                password: str | None = None, engine: Engine | None = None) -> User:
    """Create a user; a taken name is a Conflict."""
    if not username or len(username) > 150 or not username.replace("_", "").replace(
            "-", "").replace(".", "").replace("@", "").isalnum():
        raise InvalidInput(f"invalid user name {username!r}: use letters, digits and . _ - @")
    with session_scope(engine or get_engine()) as s:
        if s.exec(select(User).where(col(User.username) == username)).first():
            raise Conflict(f"user {username!r} already exists")
        user = User(username=username, email=email, is_admin=is_admin,
                    password_hash=hash_password(password) if password else None)
        s.add(user)
        s.flush()
        s.refresh(user)
        return user


def get_or_create_user(username: str, engine: Engine | None = None) -> tuple[User, bool]:
    """The user named ``username``, created when missing (second value: created)."""
    with session_scope(engine or get_engine()) as s:
        user = s.exec(select(User).where(col(User.username) == username)).first()
        if user is not None:
            return user, False
    return create_user(username, engine=engine), True


def create_api_key(user_id: int, label: str = "", engine: Engine | None = None) -> str:
    """Create a key for the user and return the secret (never stored in clear)."""
    key = secrets.token_hex(20)
    with session_scope(engine or get_engine()) as s:
        s.add(ApiKey(user_id=user_id, prefix=key[:PREFIX_LEN], key_hash=hash_key(key),
                     label=label))
    return key


def user_for_key(key: str, username: str | None = None,
                 engine: Engine | None = None) -> User | None:
    """The active user owning ``key`` (and named ``username`` when given), else None."""
    if not key or len(key) < PREFIX_LEN:
        return None
    wanted = hash_key(key)
    with session_scope(engine or get_engine()) as s:
        rows = s.exec(
            select(ApiKey, User)
            .join(User, col(User.id) == col(ApiKey.user_id))
            .where(col(ApiKey.prefix) == key[:PREFIX_LEN], col(ApiKey.revoked).is_(False))
        ).all()
        found: User | None = None
        for api_key, user in rows:
            if hmac.compare_digest(api_key.key_hash, wanted) and user.is_active and (
                    username is None or user.username == username):
                api_key.last_used_at = utcnow()
                found = user
        return found


def user_by_name(username: str, engine: Engine | None = None) -> User | None:
    with session_scope(engine or get_engine()) as s:
        return s.exec(select(User).where(col(User.username) == username)).first()
