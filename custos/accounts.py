"""Users and API keys.

A key is 40 random hex characters, shown once at creation. Only its SHA-256 is
stored, with the first 8 characters as a lookup prefix; comparisons use
``hmac.compare_digest`` so timing does not leak how much of a key matched.
The same key works in every dialect (Archivematica ``ApiKey user:key``, Perma
``ApiKey key``, ArchiveBox bearer token).

Revoking a key or (de)activating a user goes through ``revoke_api_key`` /
``set_user_active``, which also replace a marker file in the home's ``run``
folder: the API's credential caches compare its identity on every hit
(``credentials_generation``, one ``stat``), so on this host a revocation takes
effect at the next request, in every worker. Other hosts sharing a PostgreSQL
database see it when their cache entry expires (10 s).

Checking a key only reads. Its ``last_used_at`` is informational and is written
at most once per ``LAST_USED_INTERVAL`` per key and process, by a background
thread in its own short transaction: a busy database (SQLite's single writer)
can neither slow down nor fail the request that used the key, and a failed write
is only logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import queue
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from custos.db import get_engine, session_scope
from custos.errors import Conflict, InvalidInput, NotFound
from custos.models import ApiKey, User, utcnow
from custos.settings import get_settings

log = logging.getLogger(__name__)

PREFIX_LEN = 8
#: File in the home's ``run`` folder replaced whenever credentials are withdrawn.
CREDENTIALS_MARKER = "credentials-changed"
#: A key's ``last_used_at`` is refreshed at most this often (seconds).
LAST_USED_INTERVAL = 60.0


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
    """The active user owning ``key`` (and named ``username`` when given), else None.

    Read-only: the key's ``last_used_at`` is refreshed in the background (see the
    module docstring), so this never waits for, nor fails on, a database write.
    """
    if not key or len(key) < PREFIX_LEN:
        return None
    wanted = hash_key(key)
    engine = engine or get_engine()
    with session_scope(engine) as s:
        rows = s.exec(
            select(ApiKey, User)
            .join(User, col(User.id) == col(ApiKey.user_id))
            .where(col(ApiKey.prefix) == key[:PREFIX_LEN], col(ApiKey.revoked).is_(False))
        ).all()
        found: User | None = None
        for api_key, user in rows:
            if hmac.compare_digest(api_key.key_hash, wanted) and user.is_active and (
                    username is None or user.username == username):
                found = user
                if api_key.id is not None:
                    _last_use.note(engine, api_key.id, api_key.last_used_at)
        return found


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _LastUseWriter:
    """Throttled, background writes of ``ApiKey.last_used_at``.

    ``note`` decides in memory (per engine URL and key id) whether a write is due
    and hands it to one daemon thread; the ``UPDATE`` is itself conditional on the
    stored value being older than the interval, so several processes sharing a
    database do not write more often either.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._due: dict[tuple[str, int], float] = {}
        self._queue: queue.Queue[tuple[Engine, int, datetime]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def note(self, engine: Engine, key_id: int, stored: datetime | None) -> None:
        """Record a use of key ``key_id`` whose stored ``last_used_at`` is ``stored``."""
        now_mono = time.monotonic()
        slot = (str(engine.url), key_id)
        with self._lock:
            if self._due.get(slot, 0.0) > now_mono:
                return
            self._due[slot] = now_mono + self.interval
            now = utcnow()
            if stored is not None and now - _aware(stored) < timedelta(seconds=self.interval):
                return  # another process wrote it recently
            if len(self._due) > 100_000:  # bound the memory of a long-lived process
                self._due.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="custos-key-last-used",
                                                daemon=True)
                self._thread.start()
        self._queue.put((engine, key_id, now))

    def _run(self) -> None:
        while True:
            engine, key_id, at = self._queue.get()
            try:
                self.write(engine, key_id, at)
            finally:
                self._queue.task_done()

    def write(self, engine: Engine, key_id: int, at: datetime) -> None:
        """Store ``at`` unless a newer use was stored meanwhile; errors are logged."""
        older = at - timedelta(seconds=self.interval)
        try:
            with engine.begin() as conn:
                conn.execute(update(ApiKey).where(
                    col(ApiKey.id) == key_id,
                    or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) < older),
                ).values(last_used_at=at))
        except SQLAlchemyError as exc:
            with self._lock:  # try again at the next use
                self._due.pop((str(engine.url), key_id), None)
            log.warning("could not record the use of API key %s: %s", key_id,
                        str(getattr(exc, "orig", None) or exc).splitlines()[0])

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every noted write is done (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def forget(self) -> None:
        """Forget which keys were written recently (tests)."""
        with self._lock:
            self._due.clear()


_last_use = _LastUseWriter(LAST_USED_INTERVAL)


def note_key_use(api_key: ApiKey, engine: Engine | None = None) -> None:
    """Record that ``api_key`` was used (throttled, written in the background)."""
    if api_key.id is not None:
        _last_use.note(engine or get_engine(), api_key.id, api_key.last_used_at)


def flush_key_use(timeout: float = 10.0) -> bool:
    """Wait for pending ``last_used_at`` writes; False if they did not finish in time."""
    return _last_use.flush(timeout)


def forget_key_use() -> None:
    """Forget the in-process throttle of ``last_used_at`` writes (tests)."""
    _last_use.forget()


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


def set_user_active(username: str, active: bool, engine: Engine | None = None,
                    run_dir: Path | None = None) -> User:
    """(De)activate a user: an inactive user's keys stop working at once on this host."""
    with session_scope(engine or get_engine()) as s:
        user = s.exec(select(User).where(col(User.username) == username)).first()
        if user is None:
            raise NotFound(f"no user named {username!r}")
        user.is_active = active
        s.flush()
        s.refresh(user)
        s.expunge(user)
    if not active:
        credentials_changed(run_dir)
    return user


def list_api_keys(username: str | None = None,
                  engine: Engine | None = None) -> list[tuple[ApiKey, str]]:
    """Keys with their owner's name (only ``username``'s when given), oldest first."""
    with session_scope(engine or get_engine()) as s:
        query = (select(ApiKey, User.username).join(User, col(User.id) == col(ApiKey.user_id))
                 .order_by(col(ApiKey.created_at), col(ApiKey.id)))
        if username is not None:
            query = query.where(col(User.username) == username)
        return [(key, name) for key, name in s.exec(query).all()]


def revoke_api_key(ident: str, engine: Engine | None = None,
                   run_dir: Path | None = None) -> ApiKey:
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
            keys = list(s.exec(select(ApiKey).where(
                col(ApiKey.prefix) == ident[:PREFIX_LEN])).all())
            if len(ident) > PREFIX_LEN:  # the whole key: match its hash
                wanted = hash_key(ident)
                keys = [k for k in keys if hmac.compare_digest(k.key_hash, wanted)]
        live = [k for k in keys if not k.revoked] or keys
        if not live:
            raise NotFound(f"no API key {ident!r}")
        if len(live) > 1:
            raise Conflict(f"{len(live)} keys start with {ident!r}: give the key's id "
                           f"({', '.join(str(k.id) for k in live)})")
        key = live[0]
        key.revoked = True
        s.flush()
        s.refresh(key)
        s.expunge(key)
    credentials_changed(run_dir)
    return key
