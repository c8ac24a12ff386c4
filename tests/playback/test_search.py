"""Full-text search over captures (title, URL, the visible text of the saved DOM) on the
session's database: SQLite FTS5 by default, PostgreSQL when ``CUSTOS_TEST_DATABASE_URL``
names one. Through the core function, Perma's ``?q=``/``?search=``, ArchiveBox's
``search`` filter and its ``cli/search``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from custos.capture_search import find_captures, matches, reindex, words
from custos.capture_views import list_captures
from custos.db import get_engine, session_scope
from custos.models import Capture
from tests.playback.stored import stored_capture, user


@pytest.fixture(scope="module")
def tc(custos_home: Path) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def _guids(rows: list[Capture]) -> set[str]:
    return {c.guid for c in rows}


def test_words_split_on_punctuation() -> None:
    assert words("https://Example.org/news_today?x=1") == [
        "https",
        "example",
        "org",
        "news",
        "today",
        "x",
        "1",
    ]


def test_core_search_finds_a_page_word_only_for_those_who_may_list_it() -> None:
    owner, _ = user()
    stranger, _ = user()
    admin, _ = user("admin")
    page = stored_capture(owner, "http://search.test/a", "The Ornithopter landed.")
    private = stored_capture(
        owner, "http://search.test/b", "An ornithopter, privately.", private=True
    )
    stored_capture(owner, "http://search.test/c", "Nothing to see.")
    with session_scope() as s:
        assert _guids(find_captures(s, owner, "ornithopter")) == {page.guid, private.guid}
        assert _guids(find_captures(s, admin, "ORNITHOPTER")) >= {page.guid, private.guid}
        assert _guids(find_captures(s, stranger, "ornithopter")) == set()  # not their folders
        assert _guids(find_captures(s, None, "ornithopter")) == {page.guid}  # public only
        assert _guids(find_captures(s, owner, "ornithopter landed")) == {page.guid}  # all words
        assert find_captures(s, owner, "scriptword") == []  # scripts are not page text
        assert _guids(find_captures(s, owner, "search.test/a")) == {page.guid}  # URL words
        assert find_captures(s, owner, 'ornithopter" OR "x') == []  # no query syntax
        assert find_captures(s, owner, "nowhere-found-word") == []


def test_title_and_url_words_are_indexed() -> None:
    owner, _ = user()
    capture = stored_capture(owner, "http://gazetteer.test/x", "body", title="Almanac Tables")
    with session_scope() as s:
        for query in ("almanac", "tables", "gazetteer"):
            found = s.exec(select(Capture.uuid).where(matches(query))).all()  # type: ignore[arg-type]
            assert capture.uuid in found, query


def test_reindex_rebuilds_the_page_text() -> None:
    owner, _ = user()
    capture = stored_capture(owner, "http://later.test/", "Palimpsest revealed", index=False)
    with session_scope() as s:
        assert capture.guid not in _guids(find_captures(s, owner, "palimpsest"))
    assert reindex() >= 1
    with session_scope() as s:
        assert _guids(find_captures(s, owner, "palimpsest")) == {capture.guid}


def test_index_uses_the_database_s_own_full_text_search() -> None:
    with session_scope() as s:
        conn = s.connection()
        if get_engine().dialect.name == "postgresql":
            sql = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_capture_fts_document'"
            ).scalar_one()
            assert "gin (document)" in sql.lower()
        else:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'capture_fts'"
            ).scalar_one()
            assert "using fts5" in sql.lower()


def test_perma_and_archivebox_search_by_page_text(tc: TestClient) -> None:
    owner, key = user()
    capture = stored_capture(owner, "http://dialects.test/p", "A zeppelin drifted by.")
    stored_capture(owner, "http://dialects.test/q", "A balloon drifted by.")
    perma = {"Authorization": f"ApiKey {key}"}
    for param in ("q", "search"):
        listed = tc.get("/v1/archives/", params={param: "zeppelin"}, headers=perma)
        assert listed.status_code == 200, listed.text
        assert [o["guid"] for o in listed.json()["objects"]] == [capture.guid]
    public = tc.get("/v1/public/archives", params={"q": "zeppelin"}).json()["objects"]
    assert [o["guid"] for o in public] == [capture.guid]

    box = {"X-ArchiveBox-API-Key": key}
    snapshots = tc.get("/api/v1/core/snapshots", params={"search": "zeppelin"}, headers=box)
    assert snapshots.status_code == 200, snapshots.text
    items = snapshots.json()
    items = items.get("items", items) if isinstance(items, dict) else items
    assert [i["id"] for i in items] == [capture.uuid]
    cli = tc.post(
        "/api/v1/cli/search",
        json={"filter_type": "search", "filter_patterns": ["zeppelin"], "as_json": True},
        headers=box,
    )
    assert cli.status_code == 200, cli.text
    assert [r["id"] for r in cli.json()["result"]] == [capture.uuid]


def test_console_list_searches_page_text_paged_on_the_server() -> None:
    owner, _ = user()
    other, _ = user()
    made = [
        stored_capture(owner, f"http://console-list.test/{n}", f"A narwhal, number {n}.")
        for n in range(5)
    ]
    stored_capture(owner, "http://console-list.test/plain", "Only a dolphin here.")
    stored_capture(other, "http://console-list.test/theirs", "Their narwhal.")
    first = list_captures(owner, page=1, per_page=2, q="narwhal")
    assert first.total == 5 and first.pages == 3 and len(first.rows) == 2
    pages = [list_captures(owner, page=n, per_page=2, q="NARWHAL") for n in (1, 2, 3)]
    assert [r.guid for p in pages for r in p.rows] == [c.guid for c in reversed(made)]
    assert list_captures(owner, q="narwhal number 3").rows[0].guid == made[3].guid
    assert list_captures(owner, q="unicornfish").total == 0
    assert list_captures(owner, q="100%_").total == 0  # LIKE wildcards match themselves
    assert list_captures(owner, q=made[0].guid[:6]).total >= 1  # part of a GUID
