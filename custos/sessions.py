"""Console sessions ended on the server: signing out makes a copied cookie useless.

The console's session cookie is signed and carries its own expiry; signing out
records the session's id here (``ended_session``) until that expiry, and every
request's session check asks :func:`user_of_session`, which refuses an ended one.

Example::

    end_session(sid, user_id, expires_at)
    user_of_session(user_id, sid)  # None from now on
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from custos.db import session_scope
from custos.models import EndedSession, User, utcnow


def user_of_session(user_id: int, sid: str, engine: Engine | None = None) -> User | None:
    """The user of a (validly signed) session, or None when it was ended or the user
    is gone. One primary-key read of each table."""
    with session_scope(engine) as s:
        if s.get(EndedSession, sid) is not None:
            return None
        return s.get(User, user_id)


def end_session(sid: str, user_id: int, expires_at: datetime, engine: Engine | None = None) -> None:
    """Refuse the session ``sid`` from now on (and forget sessions already expired)."""
    now = utcnow()
    try:
        with session_scope(engine) as s:
            s.exec(delete(EndedSession).where(col(EndedSession.expires_at) < now))
            s.add(EndedSession(sid=sid, user_id=user_id, ended_at=now, expires_at=expires_at))
    except IntegrityError:  # signed out twice with the same cookie: already ended
        pass


def expiry(issued: int, seconds: int) -> datetime:
    """When a session issued at ``issued`` (epoch seconds) expires."""
    return datetime.fromtimestamp(issued + seconds, tz=UTC)
