"""The console's protections, over plain HTTP (no browser): CSRF, the sign-in limit,
the session cookie, the headers of every page, the roles."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from custos.accounts import create_user, set_password, set_user_active
from custos.db import session_scope
from custos.models import Unit
from web import ratelimit, security

PASSWORD = "console-http-password"
_names = itertools.count()


@pytest.fixture(scope="module")
def app(custos_home: Any) -> Any:
    from api.app import create_app

    return create_app()


def user(role: str) -> str:
    name = f"web-{role}-{next(_names)}"
    create_user(name, role=role, password=PASSWORD)
    return name


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def client_for(app: Any, role: str | None = None, **kwargs: Any) -> TestClient:
    """A client (own cookies), signed in as a fresh user of ``role`` when given."""
    client = TestClient(app, raise_server_exceptions=False, **kwargs)
    if role is not None:
        name = user(role)
        token = token_of(client.get("/signin").text)
        done = client.post(
            "/signin",
            data={"username": name, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        client.headers["x-test-user"] = name
    return client


@pytest.fixture
def archivist(app: Any) -> Iterator[TestClient]:
    with client_for(app, "archivist") as client:
        yield client


def test_a_forged_form_post_without_the_csrf_token_is_refused(
    app: Any, archivist: TestClient, custos_home: Any
) -> None:
    source = custos_home / "locations" / "transfer-source" / "forged"
    source.mkdir(parents=True, exist_ok=True)
    (source / "a.txt").write_text("a")
    page = archivist.get("/transfers").text
    location = re.search(r"browse\?location=([0-9a-f-]{36})", page)
    assert location
    form = {
        "source": f"{location.group(1)}:forged",
        "name": "forged-transfer",
        "processing_config": "default",
    }
    with session_scope() as s:
        before = len(s.exec(select(Unit)).all())

    # another site's page posting with the victim's cookie: no token
    refused = archivist.post("/transfers/start", data=form)
    assert refused.status_code == 403
    assert "did not come from this site" in refused.text
    # a token of another session does not do either
    with client_for(app, "archivist") as other:
        foreign = token_of(other.get("/transfers").text)
    assert (
        archivist.post("/transfers/start", data={**form, "csrf_token": foreign}).status_code == 403
    )
    # nor the right token from another origin
    token = token_of(page)
    evil = archivist.post(
        "/transfers/start",
        data={**form, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    # signing out needs it too
    assert archivist.post("/signout").status_code == 403
    with session_scope() as s:
        assert len(s.exec(select(Unit)).all()) == before

    # the same form with its token works (the header htmx sends works as well)
    done = archivist.post(
        "/transfers/start",
        data={**form, "approve_at_once": ""},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    uuid = done.headers["location"].rsplit("/", 1)[1]
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.name == "forged-transfer" and not unit.auto_approve


def test_sign_in_is_limited_per_user_and_address(app: Any) -> None:
    name = user("archivist")
    client = TestClient(app, raise_server_exceptions=False)
    token = token_of(client.get("/signin").text)

    def attempt(password: str, who: str = name) -> Any:
        return client.post(
            "/signin",
            data={"username": who, "password": password, "csrf_token": token},
            follow_redirects=False,
        )

    for _ in range(ratelimit.PAIR_LIMIT):
        assert attempt("wrong password").status_code == 401
    blocked = attempt(PASSWORD)  # even the right password, now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in blocked.text
    assert security.SESSION_COOKIE not in blocked.cookies
    # another user from the same address is not locked out by this one
    other = user("auditor")
    assert attempt(PASSWORD, other).status_code == 303


def test_the_session_cookie_and_its_end(app: Any) -> None:
    name = user("archivist")
    client = TestClient(app, raise_server_exceptions=False)
    token = token_of(client.get("/signin").text)
    done = client.post(
        "/signin",
        data={
            "username": name,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == "/"  # never to another site
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("custos_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here
    assert client.get("/transfers").status_code == 200

    # a tampered cookie is no session
    value = client.cookies[security.SESSION_COOKIE]
    client.cookies.set(security.SESSION_COOKIE, value[:-2] + ("00" if value[-2:] != "00" else "11"))
    assert client.get("/transfers", follow_redirects=False).status_code == 303
    client.cookies.set(security.SESSION_COOKIE, value)
    # a new password ends older sessions; so does deactivation
    set_password(name, "another-password-1")
    assert (
        client.get("/transfers", follow_redirects=False).headers["location"].startswith("/signin")
    )

    https = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    token = token_of(https.get("/signin").text)
    done = https.post(
        "/signin",
        data={"username": name, "password": "another-password-1", "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith("custos_session="))
    assert "secure" in cookie.lower()
    assert https.get("/").status_code == 200
    set_user_active(name, False)
    assert https.get("/", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_on_the_server(app: Any) -> None:
    with client_for(app, "archivist") as client:
        copied = client.cookies[security.SESSION_COOKIE]
        thief = TestClient(app, raise_server_exceptions=False)
        thief.cookies.set(security.SESSION_COOKIE, copied)
        assert thief.get("/transfers", follow_redirects=False).status_code == 200
        token = token_of(client.get("/").text)
        out = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        # the copy of the cookie, still signed and unexpired, is no session any more
        refused = thief.get("/transfers", follow_redirects=False)
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/signin")
        # signing in again makes a new session that works
        name = client.headers["x-test-user"]
        again = TestClient(app, raise_server_exceptions=False)
        token = token_of(again.get("/signin").text)
        done = again.post(
            "/signin",
            data={"username": name, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert again.get("/transfers", follow_redirects=False).status_code == 200


def _console_get_paths() -> list[str]:
    from web.pages import PAGES

    return [
        route.path
        for page in PAGES
        for route in page.router.routes
        if getattr(route, "custos_console", False) and "GET" in (route.methods or ())
    ]


def test_every_console_response_sets_the_csp(app: Any, archivist: TestClient) -> None:
    from custos import units as core_units
    from custos.models import UnitType

    transfer = next(iter(core_units.list_units(UnitType.TRANSFER)), None)
    none = "00000000-0000-0000-0000-000000000000"
    values = {
        "uuid": transfer.uuid if transfer else none,
        "job": none,
        "guid": "ABCD-2345",  # the capture pages (no such capture: their 404 page)
        "timestamp": "1.0",
        "kind": "screenshot",
        "name": "default",
    }
    paths = _console_get_paths()
    assert {"/", "/signin", "/transfers", "/ingest", "/backlog"} <= set(paths)
    checked = 0
    for path in paths:
        url = re.sub(r"\{(\w+):\w+\}", r"{\1}", path).format(**values)  # {guid:guid}
        response = archivist.get(url, follow_redirects=False)
        csp = response.headers.get("content-security-policy", "")
        script = re.search(r"script-src ([^;]*)", csp)
        assert script and "unsafe-inline" not in script.group(1), (url, csp)
        assert response.headers["x-frame-options"] == "DENY"
        checked += 1
    assert checked >= 8
    # static files, redirects to sign-in and error pages too
    anonymous = TestClient(app, raise_server_exceptions=False)
    for url in ("/console/static/console.css", "/assets/htmx/htmx.min.js", "/transfers"):
        response = anonymous.get(url, follow_redirects=False)
        assert "script-src 'self'" in response.headers["content-security-policy"], url
    assert "<script>" not in archivist.get("/transfers").text  # no inline script at all


def test_roles_reach_only_their_pages_and_actions(app: Any) -> None:
    with client_for(app, "capture") as capture:
        for path in ("/transfers", "/ingest", "/backlog", "/transfers/list"):
            assert capture.get(path).status_code == 403, path
        assert capture.get("/").status_code == 200
    with client_for(app, "auditor") as auditor:
        page = auditor.get("/transfers")
        assert page.status_code == 200
        assert (
            "Start transfer" not in page.text
            and '<form method="post" action="/transfers' not in page.text
        )
        token = token_of(page.text)
        refused = auditor.post("/transfers/start", data={"csrf_token": token, "source": "x:y"})
        assert refused.status_code == 403
        assert "may not use this page" in refused.text


def test_create_sip_from_a_backlogged_transfer(
    app: Any, archivist: TestClient, custos_home: Any, recorded_runs: Any
) -> None:
    from custos.models import LocationPurpose, UnitStatus, UnitType
    from custos.storage import default_location

    backlog = Path(default_location(LocationPurpose.BACKLOG).path)
    with session_scope() as s:
        unit = Unit(
            unit_type=UnitType.TRANSFER,
            name="waiting-in-backlog",
            status=UnitStatus.COMPLETE,
            sip_uuid="BACKLOG",
        )
        unit.current_path = str(backlog / f"waiting-in-backlog-{unit.uuid}")
        s.add(unit)
        uuid, folder = unit.uuid, Path(unit.current_path)
    (folder / "objects").mkdir(parents=True)
    (folder / "objects" / "a.txt").write_text("a")

    page = archivist.get("/backlog")
    assert page.status_code == 200 and "waiting-in-backlog" in page.text
    assert archivist.get("/backlog?q=nothing-like-it").text.count("waiting-in-backlog") == 0
    with client_for(app, "auditor") as auditor:
        assert "Create SIP" not in auditor.get("/backlog").text
    done = archivist.post(
        f"/backlog/{uuid}/create-sip",
        data={"csrf_token": token_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/transfers/{uuid}"
    assert recorded_runs.submitted[-1] == ("transfer", {"unit_uuid": uuid})
    assert not folder.exists()
    again = archivist.post(f"/backlog/{uuid}/create-sip", data={"csrf_token": token_of(page.text)})
    assert again.status_code == 409 and "not in the backlog" in again.text


def test_a_units_page_its_tasks_and_removing_it(
    app: Any, archivist: TestClient, recorded_runs: Any
) -> None:
    from custos.models import Job, JobStatus, Task, UnitStatus, UnitType, utcnow

    with session_scope() as s:
        unit = Unit(unit_type=UnitType.TRANSFER, name="finished-one", status=UnitStatus.PROCESSING)
        s.add(unit)
        s.flush()
        job = Job(
            unit_uuid=unit.uuid,
            unit_type="transfer",
            microservice="Scan for viruses",
            name="Scan for viruses in directories",
            status=JobStatus.COMPLETE,
            seq=1,
        )
        s.add(job)
        s.flush()
        now = utcnow()
        for n in range(205):
            s.add(
                Task(
                    job_uuid=job.uuid,
                    file_name=f"objects/f{n:03}.txt",
                    exit_code=0,
                    stdout=f"clean {n}",
                    started_at=now,
                    ended_at=now,
                )
            )
        uuid, job_uuid = unit.uuid, job.uuid

    page = archivist.get(f"/transfers/{uuid}")
    assert page.status_code == 200
    assert "Scan for viruses" in page.text and "205 tasks" in page.text
    fragment = archivist.get(
        f"/transfers/{uuid}/jobs/{job_uuid}/tasks", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "objects/f000.txt" in fragment.text and "clean 0" in fragment.text
    assert "objects/f200.txt" not in fragment.text and "?offset=200" in fragment.text
    rest = archivist.get(f"/transfers/{uuid}/jobs/{job_uuid}/tasks?offset=200")
    assert "<html" in rest.text and "objects/f204.txt" in rest.text
    assert archivist.get(f"/ingest/{uuid}").status_code == 404  # a transfer is no SIP

    token = token_of(page.text)
    running = archivist.post(f"/transfers/{uuid}/remove", data={"csrf_token": token})
    assert running.status_code == 409 and "still running" in running.text
    with session_scope() as s:
        row = s.get(Unit, uuid)
        assert row is not None
        row.status = UnitStatus.COMPLETE
    assert uuid in archivist.get("/transfers/list").text
    done = archivist.post(
        f"/transfers/{uuid}/remove", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert uuid not in archivist.get("/transfers/list").text
