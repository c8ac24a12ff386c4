"""Roles over HTTP: the table in docs/roles.md is the code, and every route keeps it.

``test_every_schema_route_with_a_key_of_each_role`` walks every operation of the
app's OpenAPI schema with a key of each role and expects 403 (in the dialect's own
shape) exactly where docs/roles.md says ``no``, and no 401/403 where it says
``yes``. Requests carry harmless input (unknown ids, empty bodies, filters that
match nothing): the decision under test is taken before the endpoint runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.roles import ALLOWED, Access, access_table, api_routes, dialect_of, route_access
from custos.models.accounts import Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
ROLES = list(Role)
ENDPOINT_ROW = re.compile(
    r"^\| (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \| `([^`]+)` \| (\w+) \|(.*)\|\s*$"
)
ACCESS_ROW = re.compile(r"^\| (public|read|process|capture|admin) \|(.*)\|\s*$")
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
NO_MATCH = {"filter_patterns": ["http://no-such-host.invalid/"], "filter_type": "exact"}
#: bodies that keep an allowed call from doing anything (the decision comes first)
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/custos/healthcheck"): {"json": {"hold_seconds": -1}},
    ("POST", "/api/v1/cli/update"): {"json": NO_MATCH},
    ("POST", "/api/v1/cli/remove"): {"json": NO_MATCH},
}
PARAMS = {
    "unit_uuid": "00000000-0000-4000-8000-000000000000",
    "job_uuid": "00000000-0000-4000-8000-000000000000",
    "task_uuid": "00000000-0000-4000-8000-000000000000",
    "name": "zzroles",
    "validator": "nosuch",
    "guid": "ZZZZ-ZZZZ",
    "ref": "nosuchref",
    "batch_id": "999999",
    "folder_id": "999999",
    "parent_id": "999998",
    "org_id": "999999",
}


def doc_endpoints() -> dict[tuple[str, str], tuple[str, list[str]]]:
    """docs/roles.md's endpoint rows: (method, path) -> (access, yes/no per role)."""
    rows: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for line in DOC.read_text().splitlines():
        match = ENDPOINT_ROW.match(line)
        if match:
            method, path, access, cells = match.groups()
            assert (method, path) not in rows, f"{method} {path} listed twice"
            rows[(method, path)] = (access, [c.strip() for c in cells.split("|")])
    return rows


def doc_access_levels() -> dict[str, list[str]]:
    return {
        m[1]: [c.strip() for c in m[2].split("|")]
        for m in map(ACCESS_ROW.match, DOC.read_text().splitlines())
        if m
    }


@pytest.fixture(scope="module")
def role_keys(custos_home: Any) -> dict[Role, tuple[str, str]]:
    """One user with a key per role: role -> (username, key)."""
    from custos.accounts import create_api_key, create_user

    keys = {}
    for role in ROLES:
        user = create_user(f"roles-{role.value}", role=role)
        assert user.id is not None
        keys[role] = (user.username, create_api_key(user.id))
    return keys


def credentials(path: str, username: str, key: str) -> dict[str, str]:
    """The key in the way the dialect serving ``path`` expects it."""
    dialect = dialect_of(path)
    if dialect == "Archivematica":
        return {"Authorization": f"ApiKey {username}:{key}"}
    if dialect == "Perma.cc":
        return {"Authorization": f"ApiKey {key}"}
    if dialect == "ArchiveBox":
        return {"X-ArchiveBox-API-Key": key}
    return {"Authorization": f"Bearer {key}"}


def refused_in_dialect_shape(path: str, role: Role, response: Any) -> bool:
    """A 403 whose body is the dialect's own, naming the role where the dialect can."""
    if response.status_code != 403:
        return False
    if response.request.method == "HEAD":
        return True
    body = response.json()
    dialect = dialect_of(path)
    if dialect == "Archivematica":
        return body.get("error") is True and f"the role {role} may not" in body["message"]
    if dialect == "Perma.cc":
        return body == {"detail": "You do not have permission to perform this action."}
    if dialect == "ArchiveBox":
        return f"the role {role} may not" in body["detail"]
    return body.get("error") == "Forbidden" and f"the role {role} may not" in body["message"]


def test_every_route_states_exactly_one_access(app: Any) -> None:
    unstated = {
        (sorted(r.methods or ()), r.path): route_access(r)
        for r in api_routes(app)
        if len(route_access(r)) != 1 and r.path not in ("/docs", "/redoc")
    }
    assert unstated == {}


def test_access_levels_in_the_docs_are_the_code() -> None:
    levels = doc_access_levels()
    assert set(levels) == {a.value for a in Access}
    for access in Access:
        assert levels[access.value] == [
            "yes" if role in ALLOWED[access] else "no" for role in ROLES
        ], access


def test_endpoint_tables_in_the_docs_are_the_code(app: Any) -> None:
    documented = doc_endpoints()
    code = {key: marks[0].value for key, marks in access_table(app).items()}
    assert {k: v[0] for k, v in documented.items()} == code, (
        "docs/roles.md differs from the routes: regenerate its tables with `python -m api.roles`"
    )
    for (method, path), (access, cells) in documented.items():
        assert cells == ["yes" if role in ALLOWED[Access(access)] else "no" for role in ROLES], (
            method,
            path,
        )


def test_every_schema_route_with_a_key_of_each_role(
    app: Any,
    client: TestClient,
    role_keys: dict[Role, tuple[str, str]],
    recorded_runs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.archivematica import units

    monkeypatch.setattr(units, "hide_all", lambda unit_type: [])  # the session's units stay
    documented = doc_endpoints()
    operations = [
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in HTTP_METHODS
    ]
    missing = [op for op in operations if op not in documented]
    assert missing == [], "routes of the OpenAPI schema missing from docs/roles.md"
    wrong = []
    for method, path in operations:
        access = Access(documented[(method, path)][0])
        url = re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m[1], "x"), path)
        for role in ROLES:
            username, key = role_keys[role]
            response = client.request(
                method,
                url,
                headers=credentials(path, username, key),
                **BODIES.get((method, path), {}),
            )
            if role in ALLOWED[access]:
                ok = response.status_code not in (401, 403) and response.status_code < 500
            else:
                ok = refused_in_dialect_shape(path, role, response)
            if not ok:
                wrong.append((method, path, role.value, response.status_code, response.text[:200]))
    assert wrong == []
    assert len(operations) > 80  # the walk saw the whole API


def test_auditors_and_capture_users_reach_no_archivematica_write(app: Any) -> None:
    table = {key: marks[0] for key, marks in access_table(app).items()}
    auditor_writes = [
        key
        for key, access in table.items()
        if access is not Access.PUBLIC
        and Role.AUDITOR in ALLOWED[access]
        and key[0] not in ("GET", "HEAD")
    ]
    assert auditor_writes == []
    capture_outside = [
        key
        for key, access in table.items()
        if access is not Access.PUBLIC
        and Role.CAPTURE in ALLOWED[access]
        and dialect_of(key[1]) not in ("Perma.cc", "ArchiveBox")
    ]
    assert capture_outside == []
    assert table[("PUT", "/api/processing-configuration/{name}")] is Access.ADMIN
    assert table[("DELETE", "/api/processing-configuration/{name}")] is Access.ADMIN
