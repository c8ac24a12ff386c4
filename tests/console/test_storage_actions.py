"""What the AIP page's buttons submit (in-process app, flows recorded, not run):
"verify now" the fixity-audit flow for that AIP, reingest the reingest flow; both only
for roles that may process, and only with the form's CSRF token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from custos.accounts import create_user
from custos.db import session_scope
from custos.models import (
    Location,
    LocationPurpose,
    Package,
    PackageStatus,
    Unit,
    UnitType,
    new_uuid,
)
from tests.support.recording import RecordingBackend

PASSWORD = "storage-actions-password"


@pytest.fixture(scope="module")
def app() -> object:
    from api.app import create_app

    return create_app()


def _client(app: object, role: str) -> TestClient:
    name = f"sa-{role}-{new_uuid()[:6]}"
    create_user(name, role=role, password=PASSWORD)
    client = TestClient(app, base_url="http://testserver")  # type: ignore[arg-type]
    token = _token(client, "/signin")
    signed = client.post(
        "/signin",
        data={"username": name, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    return client


def _token(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def aip(tmp_path: Path) -> Iterator[str]:
    uuid = new_uuid()
    (tmp_path / f"a-{uuid}").mkdir()
    with session_scope() as s:
        loc = Location(purpose=LocationPurpose.AIP_STORAGE, path=str(tmp_path))
        s.add(loc)
        s.add(Unit(uuid=uuid, unit_type=UnitType.SIP, name="a", status="COMPLETE"))
        s.flush()
        s.add(
            Package(
                uuid=uuid,
                name=f"a-{uuid}",
                location_uuid=loc.uuid,
                path=f"a-{uuid}",
                status=PackageStatus.STORED,
                stored_at=datetime.now(UTC),
            )
        )
    yield uuid


def test_verify_now_submits_the_fixity_audit_of_that_aip(
    app: object, aip: str, recorded_runs: RecordingBackend
) -> None:
    client = _client(app, "archivist")
    token = _token(client, f"/archival-storage/{aip}")
    done = client.post(
        f"/archival-storage/{aip}/verify", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/archival-storage/{aip}?notice=verify"
    assert recorded_runs.submitted == [("fixity-audit", {"uuids": [aip]})]
    page = client.get(done.headers["location"])
    assert "Verification started" in page.text


def test_reingest_submits_the_reingest_flow(
    app: object, aip: str, recorded_runs: RecordingBackend
) -> None:
    client = _client(app, "admin")
    token = _token(client, f"/archival-storage/{aip}")
    done = client.post(
        f"/archival-storage/{aip}/reingest",
        data={"csrf_token": token, "reingest_type": "metadata"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/ingest/{aip}"
    assert [name for name, _ in recorded_runs.submitted] == ["reingest"]
    unit_page = client.get(done.headers["location"])  # the SIP's page says what it does
    assert "metadata reingest of the stored" in unit_page.text
    bad = client.post(
        f"/archival-storage/{aip}/reingest",
        data={"csrf_token": token, "reingest_type": "everything"},
    )
    assert bad.status_code == 400 and "unknown reingest type" in bad.text


def test_refused_without_token_or_role(
    app: object, aip: str, recorded_runs: RecordingBackend
) -> None:
    archivist = _client(app, "archivist")
    forged = archivist.post(f"/archival-storage/{aip}/verify", follow_redirects=False)
    assert forged.status_code == 403
    auditor = _client(app, "auditor")
    token = _token(auditor, f"/archival-storage/{aip}")
    refused = auditor.post(
        f"/archival-storage/{aip}/reingest",
        data={"csrf_token": token, "reingest_type": "metadata"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert recorded_runs.submitted == []
    missing = auditor.get(f"/archival-storage/{new_uuid()}")
    assert missing.status_code == 404
