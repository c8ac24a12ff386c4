"""The status polls' fast path answers exactly as the route, and only when it may."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col

from api.archivematica.fastpath import StatusFastPath
from custos.accounts import PREFIX_LEN
from custos.db import session_scope
from custos.models import ApiKey, UnitType
from tests.api.am_helpers import add_jobs, make_unit, set_unit


@pytest.fixture(scope="module")
def plain_client(custos_home: Any) -> Iterator[TestClient]:
    """The same app without the fast path: every request goes through the routes."""
    from api.app import create_app

    app = create_app()
    app.user_middleware = [m for m in app.user_middleware if m.cls is not StatusFastPath]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def served(client: TestClient, method: str, path: str, **kwargs: Any) -> tuple[Any, bool]:
    """(response, whether the fast path answered it)."""
    before = StatusFastPath.served
    res = client.request(method, path, **kwargs)
    return res, StatusFastPath.served > before


def comparable(res: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    return res.status_code, res.content, sorted(res.headers.items())


def test_same_answers_as_the_routes(
    client: TestClient, plain_client: TestClient, auth: dict[str, str]
) -> None:
    transfer = make_unit(name="fast é")
    add_jobs(transfer, ("Create SIP from Transfer", "Create SIP from transfer objects"))
    sip = make_unit(UnitType.SIP, name="fast-sip")
    add_jobs(sip, ("Normalize", "Normalize for preservation"))
    set_unit(transfer, sip_uuid=sip)
    empty = make_unit(name="no-jobs")
    assert client.get(f"/api/transfer/status/{transfer}", headers=auth).status_code == 200
    for path in (
        f"/api/transfer/status/{transfer}",
        f"/api/transfer/status/{transfer}/",
        f"/api/ingest/status/{sip}",
        f"/api/ingest/status/{transfer}",
        f"/api/transfer/status/{sip}",
        f"/api/transfer/status/{empty}",
        "/api/transfer/status/00000000-0000-0000-0000-000000000000",
    ):
        fast, was_fast = served(client, "GET", path, headers=auth)
        assert was_fast, path
        assert comparable(fast) == comparable(plain_client.get(path, headers=auth)), path
    body = client.get(f"/api/transfer/status/{transfer}", headers=auth).json()
    assert (body["status"], body["sip_uuid"], body["name"]) == ("COMPLETE", sip, "fast é")
    res = client.get(f"/api/transfer/status/{empty}", headers=auth)
    assert res.status_code == 400 and res.json()["error"] is True


def test_everything_else_goes_to_the_routes(
    client: TestClient, am_user: tuple[str, str], auth: dict[str, str]
) -> None:
    uuid = make_unit(name="slow")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    path = f"/api/transfer/status/{uuid}"
    first, was_fast = served(client, "GET", path, headers=auth)
    assert first.status_code == 200 and not was_fast  # credentials not yet cached
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", path, {"headers": {"Authorization": f"ApiKey {am_user[0]}:wrong"}}, 403),
        ("GET", path, {}, 403),
        ("GET", path, {"params": {"username": am_user[0], "api_key": am_user[1]}}, 200),
        ("POST", path, {"headers": auth}, 405),
        ("GET", "/api/transfer/status/not-a-uuid", {"headers": auth}, 400),
        ("GET", f"/api/transfer/status/{uuid}/extra", {"headers": auth}, 404),
    ]
    for method, target, kwargs, status in cases:
        res, was_fast = served(client, method, target, **kwargs)
        assert (res.status_code, was_fast) == (status, False), (method, target, kwargs)
        assert status == 404 or "X-Archivematica-Version" in res.headers
    res, was_fast = served(client, "GET", path, headers=auth)
    assert res.status_code == 200 and was_fast


def test_a_revoked_key_stops_at_the_cache_expiry(
    client: TestClient, am_user: tuple[str, str], auth: dict[str, str]
) -> None:
    from api.archivematica import auth as am_auth

    uuid = make_unit(name="revoked")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    path = f"/api/transfer/status/{uuid}"
    assert client.get(path, headers=auth).status_code == 200
    with session_scope() as s:
        s.execute(
            update(ApiKey).where(col(ApiKey.prefix) == am_user[1][:PREFIX_LEN]).values(revoked=True)
        )
    am_auth.clear_cache()  # what CACHE_SECONDS passing does
    res, was_fast = served(client, "GET", path, headers=auth)
    assert (res.status_code, was_fast) == (403, False)


def test_withdrawn_credentials_stop_at_the_next_request(
    client: TestClient, am_user: tuple[str, str], auth: dict[str, str]
) -> None:
    """Revoking or deactivating drops every cached entry at once (no 10 s wait)."""
    from custos.accounts import create_api_key, revoke_api_key, set_user_active, user_by_name

    uuid = make_unit(name="withdrawn")
    add_jobs(uuid, ("Verify transfer compliance", "Move to processing directory"))
    path = f"/api/transfer/status/{uuid}"
    for _ in range(2):  # the second answer comes from the cache (fast path on SQLite)
        assert client.get(path, headers=auth).status_code == 200
    revoke_api_key(am_user[1][:8])
    res, was_fast = served(client, "GET", path, headers=auth)
    assert (res.status_code, was_fast) == (403, False)
    owner = user_by_name(am_user[0])
    assert owner is not None and owner.id is not None
    fresh = {"Authorization": f"ApiKey {am_user[0]}:{create_api_key(owner.id)}"}
    for _ in range(2):
        assert client.get(path, headers=fresh).status_code == 200
    set_user_active(am_user[0], False)
    assert client.get(path, headers=fresh).status_code == 403
    set_user_active(am_user[0], True)
    assert client.get(path, headers=fresh).status_code == 200
