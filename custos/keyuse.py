"""Background, throttled writes of ``ApiKey.last_used_at``.

Checking a key only reads (``custos.accounts.key_owner``). Its ``last_used_at`` is
informational and is written at most once per ``LAST_USED_INTERVAL`` per key and
process, by a background thread in its own short transaction: a busy database
(SQLite's single writer) can neither slow down nor fail the request that used the
key, and a failed write is only logged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from custos.db import get_engine
from custos.models import ApiKey, utcnow

log = logging.getLogger(__name__)

#: A key's ``last_used_at`` is refreshed at most this often (seconds).
LAST_USED_INTERVAL = 60.0


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
                self._thread = threading.Thread(
                    target=self._run, name="custos-key-last-used", daemon=True
                )
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
                conn.execute(
                    update(ApiKey)
                    .where(
                        col(ApiKey.id) == key_id,
                        or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) < older),
                    )
                    .values(last_used_at=at)
                )
        except SQLAlchemyError as exc:
            with self._lock:  # try again at the next use
                self._due.pop((str(engine.url), key_id), None)
            log.warning(
                "could not record the use of API key %s: %s",
                key_id,
                str(getattr(exc, "orig", None) or exc).splitlines()[0],
            )

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


def note(engine: Engine, key_id: int, stored: datetime | None) -> None:
    """Record a use of key ``key_id`` whose stored ``last_used_at`` is ``stored``."""
    _last_use.note(engine, key_id, stored)


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
