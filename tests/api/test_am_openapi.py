"""Property-based run of schemathesis over the Archivematica endpoints: no 5xx.

Every operation of ``/api/`` (ArchiveBox's ``/api/v1/`` excluded) is called with
generated parameters and bodies, authenticated, and must never answer 5xx or
leak a traceback.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from custos.accounts import create_api_key, create_user


@pytest.fixture(scope="module")
def fuzz_auth(custos_home: Any) -> dict[str, str]:
    user = create_user("am-fuzzer", role="admin")  # every endpoint is reachable
    assert user.id is not None
    return {"Authorization": f"ApiKey am-fuzzer:{create_api_key(user.id)}"}


def test_openapi_documents_every_archivematica_endpoint(app: Any) -> None:
    paths = app.openapi()["paths"]
    expected = {
        "/api/transfer/start_transfer/": {"post"},
        "/api/transfer/unapproved": {"get"},
        "/api/transfer/approve": {"post"},
        "/api/transfer/status/{unit_uuid}": {"get"},
        "/api/transfer/completed": {"get"},
        "/api/transfer/{unit_uuid}/delete/": {"delete"},
        "/api/transfer/delete/": {"delete"},
        "/api/transfer/reingest": {"post"},
        "/api/ingest/status/{unit_uuid}": {"get"},
        "/api/ingest/waiting": {"get"},
        "/api/ingest/completed": {"get"},
        "/api/ingest/{unit_uuid}/delete/": {"delete"},
        "/api/ingest/delete/": {"delete"},
        "/api/ingest/reingest": {"post"},
        "/api/ingest/reingest/approve": {"post"},
        "/api/ingest/copy_metadata_files/": {"post"},
        "/api/filesystem/administration/dips/atom/levels/": {"get"},
        "/api/administration/dips/atom/fetch_levels/": {"get"},
        "/api/filesystem/metadata/": {"get", "post"},
        "/api/processing-configuration/{name}": {"get", "delete", "put"},
        "/api/processing-configuration": {"get"},
        "/api/v2beta/package": {"post"},
        "/api/v2beta/validate/{validator}": {"post"},
        "/api/v2beta/jobs/{unit_uuid}": {"get"},
        "/api/v2beta/task/{task_uuid}": {"get"},
        "/api/v2beta/decisions": {"get"},
        "/api/v2beta/decisions/{job_uuid}": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    decisions = paths["/api/v2beta/decisions/{job_uuid}"]["post"]
    assert "requestBody" in decisions and "404" in decisions["responses"]


def test_no_server_errors(app: Any, fuzz_auth: dict[str, str], recorded_runs: Any) -> None:
    """Fuzzed calls never start a real flow (``recorded_runs``): no side effects on disk."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex=r"^/api/(?!v1/)"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 27
    seen: set[int] = set()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: Any) -> None:
            response = case.call(headers={**(case.headers or {}), **fuzz_auth})
            assert response.status_code < 500, (case.method, case.path, response.text)
            assert "Traceback" not in response.text
            seen.add(response.status_code)

        check()
    assert {200, 400, 404} <= seen  # authenticated calls reached the endpoints
