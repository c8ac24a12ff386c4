"""Authentication, methods, headers, slash forms and error mapping of /api/."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.archivematica.errors import AM_VERSION

FORBIDDEN = {"message": "API key not valid.", "error": True}


def test_missing_and_wrong_credentials_are_403(
    client: TestClient, am_user: tuple[str, str]
) -> None:
    user, key = am_user
    for kwargs in (
        {},
        {"headers": {"Authorization": f"ApiKey {user}:wrong{key}"}},
        {"headers": {"Authorization": f"ApiKey other:{key}"}},
        {"params": {"username": user, "api_key": "x" * 40}},
        {"headers": {"Authorization": f"ApiKey: {user}:{key}"}},
    ):
        res = client.get("/api/transfer/completed", **kwargs)
        assert res.status_code == 403, kwargs
        assert res.json() == FORBIDDEN


def test_header_query_and_form_credentials(client: TestClient, am_user: tuple[str, str]) -> None:
    user, key = am_user
    by_header = client.get(
        "/api/transfer/completed", headers={"Authorization": f"apikey {user}:{key}"}
    )
    by_query = client.get("/api/transfer/completed", params={"username": user, "api_key": key})
    by_form = client.post(
        "/api/transfer/approve", data={"username": user, "api_key": key, "directory": "nothing"}
    )
    assert by_header.status_code == 200
    assert by_query.status_code == 200
    assert by_header.json()["message"] == "Fetched completed transfers successfully."
    assert by_form.status_code == 404  # authenticated: nothing waits in that directory
    assert by_form.json() == {"error": True, "message": "Unable to start the transfer."}


def test_wrong_method_is_405_before_auth(client: TestClient) -> None:
    res = client.post("/api/transfer/completed")
    assert res.status_code == 405
    assert res.content == b""
    assert res.headers["allow"] == "GET"
    res = client.get("/api/transfer/approve/")
    assert res.status_code == 405 and res.headers["allow"] == "POST"


def test_every_response_has_archivematica_headers(client: TestClient, auth: dict[str, str]) -> None:
    ids = set()
    for res in (
        client.get("/api/transfer/completed", headers=auth),
        client.get("/api/transfer/completed"),
        client.put("/api/transfer/completed"),
        client.get("/api/ingest/status/00000000-0000-0000-0000-000000000000", headers=auth),
    ):
        assert res.headers["X-Archivematica-Version"] == AM_VERSION
        ids.add(res.headers["X-Archivematica-ID"])
    assert len(ids) == 1 and len(ids.pop()) == 36


@pytest.mark.parametrize(
    "path",
    [
        "/api/transfer/completed",
        "/api/transfer/completed/",
        "/api/ingest/completed",
        "/api/ingest/completed/",
        "/api/processing-configuration",
        "/api/processing-configuration/",
    ],
)
def test_both_slash_forms(client: TestClient, auth: dict[str, str], path: str) -> None:
    res = client.get(path, headers=auth, follow_redirects=False)
    assert res.status_code == 200


def test_unexpected_error_is_generic_500_without_traceback(
    client: TestClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from custos import processing

    def broken(*_a: object, **_k: object) -> list[str]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(processing, "list_names", broken)
    res = client.get("/api/processing-configuration", headers=auth)
    assert res.status_code == 500
    body = res.json()
    assert body["error"] is True and "secret" not in res.text and "Traceback" not in res.text
    assert res.headers["X-Archivematica-Version"] == AM_VERSION
    assert "secret internal detail" in caplog.text


def test_invalid_path_parameter_is_400_archivematica_body(
    client: TestClient, auth: dict[str, str]
) -> None:
    res = client.get("/api/transfer/status/not-a-uuid", headers=auth)
    assert res.status_code == 400
    assert res.json()["error"] is True
