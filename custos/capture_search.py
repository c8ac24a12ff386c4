"""Full-text search over captures: title, URL and the visible text of the saved DOM.

One table, ``capture_fts``, made by migration 0004 in the shape each database
searches best: an FTS5 virtual table on SQLite, a table with a ``tsvector``
column and a GIN index on PostgreSQL (the ``simple`` configuration: captured
pages come in every language, so words are not stemmed). A capture is indexed
when it completes (``custos.capture_progress``); ``reindex`` rebuilds the lot.

A query matches the captures holding every word of it (in any of the three
fields, any case); punctuation separates words, so ``example.org/news`` finds a
capture of ``https://example.org/news/today``::

    with session_scope() as s:
        rows = find_captures(s, user, "harbour")         # the console's list
    query = select(Capture).where(matches("harbour"))    # a filter for any list
    query = select(Capture).where(text_matches("harbour"))  # the index alone
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import String, column, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from custos.capture_contents import dom_text
from custos.captures import accessible_folder_ids
from custos.db import get_engine, session_scope
from custos.models import Capture, CaptureStatus, User

log = logging.getLogger(__name__)
TABLE = "capture_fts"
#: Text kept per capture (a huge page is indexed by its first megabyte of text).
MAX_BODY = 1024 * 1024
_WORD = re.compile(r"\w+", re.UNICODE)


def words(value: str | None) -> list[str]:
    """The words of ``value`` (letters and digits; everything else separates)."""
    return [w.lower() for w in _WORD.findall((value or "").replace("_", " "))]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def index_capture(session: Session, capture: Capture) -> None:
    """(Re)write the capture's row of the index from its title, URL and saved DOM."""
    title = " ".join(words(capture.title))
    url = " ".join(words(capture.url) + words(capture.final_url))
    body = dom_text(session, capture)[:MAX_BODY]
    values: dict[str, Any] = {"uuid": capture.uuid, "title": title, "url": url, "body": body}
    session.execute(text(f"DELETE FROM {TABLE} WHERE capture_uuid = :uuid"), values)
    if _dialect(session) == "postgresql":
        session.execute(
            text(
                f"INSERT INTO {TABLE} (capture_uuid, title, url, body, document) VALUES "
                "(:uuid, :title, :url, :body, "
                "setweight(to_tsvector('simple', :title), 'A') || "
                "setweight(to_tsvector('simple', :url), 'B') || "
                "setweight(to_tsvector('simple', :body), 'C'))"
            ),
            values,
        )
    else:
        session.execute(
            text(
                f"INSERT INTO {TABLE} (capture_uuid, title, url, body) "
                "VALUES (:uuid, :title, :url, :body)"
            ),
            values,
        )


def index_completed(capture_uuid: str) -> bool:
    """Index one capture in its own transaction; False (logged) when that fails.

    Called when a capture completes: a page that cannot be indexed stays a good
    capture (search simply does not find it by its text).
    """
    try:
        with session_scope() as s:
            capture = s.get(Capture, capture_uuid)
            if capture is None:
                return False
            index_capture(s, capture)
        return True
    except (SQLAlchemyError, OSError) as exc:
        log.warning("capture %s not indexed for search: %s", capture_uuid, exc)
        return False


def reindex() -> int:
    """Rebuild the index of every succeeded capture; returns how many were indexed."""
    with session_scope() as s:
        uuids = s.exec(
            select(Capture.uuid).where(col(Capture.status) == CaptureStatus.SUCCEEDED)
        ).all()
    return sum(index_completed(uuid) for uuid in uuids)


def _fts_uuids(dialect: str, terms: list[str]) -> Any:
    if dialect == "postgresql":
        sql = text(
            f"SELECT capture_uuid FROM {TABLE} WHERE document @@ plainto_tsquery('simple', :q)"
        ).bindparams(q=" ".join(terms))
    else:  # FTS5: every word quoted (no query syntax reaches MATCH), all required
        sql = text(f"SELECT capture_uuid FROM {TABLE} WHERE {TABLE} MATCH :q").bindparams(
            q=" ".join(f'"{t}"' for t in terms)
        )
    return sql.columns(column("capture_uuid", String))


def text_matches(query: str | None, dialect: str | None = None) -> ColumnElement[bool] | None:
    """A filter on ``Capture``: the index holds every word of ``query`` (None: no words)."""
    terms = words(query)
    if not terms:
        return None
    return col(Capture.uuid).in_(_fts_uuids(dialect or get_engine().dialect.name, terms))


def matches(query: str | None, dialect: str | None = None) -> ColumnElement[bool] | None:
    """A filter on ``Capture`` for ``query`` (None: an empty query, no filter).

    Full-text over the index, or a substring of the GUID, URL or title (so a
    title edited after the capture, or part of a word, still matches).
    """
    if not (query or "").strip():
        return None
    needle = (query or "").strip()  # % and _ match themselves (autoescape)
    substring = col(Capture.guid).icontains(needle, autoescape=True)
    substring = substring | col(Capture.url).icontains(needle, autoescape=True)
    substring = substring | col(Capture.title).icontains(needle, autoescape=True)
    full_text = text_matches(query, dialect)
    return substring if full_text is None else full_text | substring


def find_captures(
    session: Session, user: User | None, query: str | None, limit: int = 50, offset: int = 0
) -> list[Capture]:
    """The captures ``user`` may list that match ``query``, newest first.

    A user lists the captures of their folders (all for admins); anonymous callers
    the public, listed ones. An empty query lists them all.
    """
    statement = select(Capture).where(col(Capture.user_deleted).is_(False))
    if user is None:
        statement = statement.where(
            col(Capture.is_private).is_(False), col(Capture.is_unlisted).is_(False)
        )
    elif not user.is_admin:
        folders = accessible_folder_ids(session, user)
        statement = statement.where(col(Capture.folder_id).in_(folders or [-1]))
    condition = matches(query, _dialect(session))
    if condition is not None:
        statement = statement.where(condition)
    statement = statement.order_by(col(Capture.created_at).desc()).offset(offset).limit(limit)
    return list(session.exec(statement).all())
