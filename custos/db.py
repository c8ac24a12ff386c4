"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

The schema is owned by Alembic migrations in ``custos/migrations``; ``migrate()``
runs them to head and is called at every start-up, so an upgraded Custos upgrades
its database by itself.

Example::

    engine = get_engine()
    migrate(engine)
    with session_scope(engine) as session:
        session.add(unit)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, SQLAlchemyError
from sqlmodel import Session, text

import custos.models  # noqa: F401  (registers every table)
from custos.errors import ConfigError, InvalidInput
from custos.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Bytes of a SQLite database read through mmap (SQLite's ``mmap_size``).
SQLITE_MMAP_BYTES = 1 << 30
#: Pooled SQLite connections kept open. SQLAlchemy's default (5) is below the
#: API's thread pool (40): connections beyond it were closed after each use, so
#: polling clients paid for opening a connection (pragmas, schema) per request.
SQLITE_POOL_SIZE = 40

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Reads through a memory map share the OS page cache: a fresh connection is
    # as fast as a warm one (no per-connection page cache to fill by read()s).
    cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cur.close()


def safe_url(url: str) -> str:
    """The URL with its password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` with the settings each backend needs."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        db = sa_url.database
        if db and db != ":memory:":
            parent = Path(db).parent
            if not parent.is_dir():
                raise ConfigError(f"database folder {parent} does not exist")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: the settings' database)."""
    url = url or get_settings().db_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def check_database(engine: Engine) -> None:
    """Fail with one clear line when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"database unreachable at {safe_url(str(engine.url))}: {reason}") from exc


def is_transient(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a database error worth
    retrying: the connection was lost (server restarted, ``pg_terminate_backend``,
    network cut; the pool then replaces it) or the database was busy or
    unreachable for a moment (``OperationalError``)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OperationalError):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def alembic_config(engine: Engine) -> Any:
    """An Alembic Config pointing at our migrations and this engine."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", str(engine.url).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine | None = None) -> None:
    """Create or upgrade the schema to the newest migration."""
    from alembic import command

    engine = engine or get_engine()
    check_database(engine)
    command.upgrade(alembic_config(engine), "head")


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except (DataError, OverflowError) as exc:
        # A value the database cannot hold (NUL bytes in PostgreSQL text, integers
        # beyond the column's range) came from the caller: say so instead of a 500.
        session.rollback()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise InvalidInput(f"a value cannot be stored: {reason}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
