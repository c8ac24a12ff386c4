"""Capture defences as an API client meets them: through the app, the dispatcher and the flow.

- A capture whose page pulls from an origin with a self-signed certificate
  completes, and Perma's and ArchiveBox's payloads name that origin in
  ``tls_unverified_origins``; an origin whose CA is trusted (here a test CA
  named by ``CUSTOS_CAPTURE_CA_BUNDLE``) is not named.
- A capture of a deprecated IPv6 spelling of loopback fails with the rule that
  refused it, and nothing is dialled.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from custos.accounts import create_api_key, create_user
from custos.db import session_scope
from custos.models import ArchiveResult, Capture, CaptureJob, Unit, UnitStatus
from custos.settings import get_settings

from .site import SiteServer
from .tlsca import TestAuthority, https_base, https_site


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("tls-api"))


@pytest.fixture(scope="module")
def trusted(authority: TestAuthority) -> Iterator[SiteServer]:
    server = https_site(authority.server_context("api-trusted"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def self_signed(authority: TestAuthority) -> Iterator[SiteServer]:
    server = https_site(authority.server_context("api-self-signed", self_signed=True))
    yield server
    server.stop()


@pytest.fixture()
def client(
    live_captures: None, authority: TestAuthority, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str]]:
    """The app with captures run inline, loopback open and the test CA trusted."""
    from api.app import create_app

    monkeypatch.setenv("CUSTOS_CAPTURE_CA_BUNDLE", str(authority.ca_file))
    get_settings.cache_clear()
    user = create_user(f"capture-security-{uuid.uuid4().hex[:8]}", is_admin=True)
    assert user.id is not None
    with TestClient(create_app()) as test_client:
        yield test_client, create_api_key(user.id)


def capture_through_api(client: TestClient, key: str, url: str) -> tuple[Capture, CaptureJob]:
    from custos import dispatch

    created = client.post(
        "/v1/archives", json={"url": url}, headers={"Authorization": f"ApiKey {key}"}
    )
    assert created.status_code == 201, created.text
    assert dispatch.inline_backend().wait_all(timeout=300)
    with session_scope() as s:
        capture = s.exec(select(Capture).where(col(Capture.guid) == created.json()["guid"])).one()
        job = s.exec(select(CaptureJob).where(col(CaptureJob.capture_uuid) == capture.uuid)).one()
        return capture, job


def tls_row(capture: Capture) -> ArchiveResult | None:
    with session_scope() as s:
        return s.exec(
            select(ArchiveResult).where(
                col(ArchiveResult.capture_uuid) == capture.uuid,
                col(ArchiveResult.extractor) == "tls",
            )
        ).first()


def payloads(client: TestClient, key: str, capture: Capture) -> list[dict[str, Any]]:
    """The capture as Perma (public and owner's view) and ArchiveBox show it."""
    shown = [
        client.get(f"/v1/public/archives/{capture.guid}"),
        client.get(f"/v1/archives/{capture.guid}", headers={"Authorization": f"ApiKey {key}"}),
        client.get(f"/api/v1/core/snapshot/{capture.uuid}", headers={"X-ArchiveBox-API-Key": key}),
    ]
    assert [r.status_code for r in shown] == [200, 200, 200], [r.text for r in shown]
    return [r.json() for r in shown]


def test_unverified_origin_is_flagged_in_perma_and_archivebox_payloads(
    client: tuple[TestClient, str], trusted: SiteServer, self_signed: SiteServer
) -> None:
    app, key = client
    bad = https_base(self_signed)
    page = f"{https_base(trusted)}/embed?src={bad}/img.png"
    capture, job = capture_through_api(app, key, page)
    assert (capture.status, job.status) == ("succeeded", "completed"), job.message

    for payload in payloads(app, key, capture):
        assert payload["tls_unverified_origins"] == [bad]
    row = tls_row(capture)
    assert row is not None and row.status == "failed"
    verdicts = {v["origin"]: v for v in json.loads(row.output or "{}")["origins"]}
    assert verdicts[https_base(trusted)]["verified"] is True
    assert verdicts[bad]["verified"] is False and verdicts[bad]["reason"] == "self_signed"

    clean, clean_job = capture_through_api(app, key, f"{https_base(trusted)}/simple.html")
    assert clean_job.status == "completed", clean_job.message
    for payload in payloads(app, key, clean):
        assert payload["tls_unverified_origins"] == []
    clean_row = tls_row(clean)
    assert clean_row is not None and clean_row.status == "succeeded"


@pytest.fixture()
def loopback_listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def test_ipv4_compatible_loopback_is_refused_through_the_api(
    client: tuple[TestClient, str], loopback_listener: socket.socket
) -> None:
    app, key = client
    port = loopback_listener.getsockname()[1]
    capture, job = capture_through_api(app, key, f"http://[::127.0.0.1]:{port}/")
    assert (capture.status, job.status) == ("failed", "failed")
    message = json.loads(job.message or "{}")["error"][0]
    assert "::/96 (IPv4-compatible 127.0.0.1)" in message
    with session_scope() as s:
        unit = s.get(Unit, capture.uuid)
    assert unit is not None and unit.status == UnitStatus.FAILED
    try:
        loopback_listener.accept()
    except BlockingIOError:
        pass
    else:
        pytest.fail("the loopback listener was dialled")
