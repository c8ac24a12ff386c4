"""``GET /custos/health`` says whether virus checks use official ClamAV signatures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from custos.settings import get_settings


def _official_layout(folder: Path) -> Path:
    """main and daily databases with real ``ClamAV-VDB`` headers (no internet here)."""
    folder.mkdir()
    for name, version in (("main", 62), ("daily", 27577)):
        header = (
            f"ClamAV-VDB:14 Mar 2025 06-12 -0400:{version}:2074301:90:"
            "0123456789abcdef0123456789abcdef:AAAA:raynman:1741947120"
        )
        (folder / f"{name}.cvd").write_bytes(header.encode().ljust(512) + os.urandom(64))
    return folder


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Operator defaults (no folder named), on a machine without freshclam's folder."""
    monkeypatch.delenv("CUSTOS_CLAMAV_DATABASE")
    monkeypatch.setenv("CUSTOS_CLAMAV_SYSTEM_DATABASE", str(tmp_path / "none"))
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _health(client: TestClient, monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    res = client.get("/custos/health")  # public: no key
    assert res.status_code == 200, res.text
    body: dict[str, str] = res.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    return body


def test_health_reports_test_only_signatures(client: TestClient, env: pytest.MonkeyPatch) -> None:
    body = _health(client, env)
    assert body["virus_signatures"] == "test-only"
    assert body["virus_signatures_version"] is None and body["virus_checks"] == "ok"
    refused = _health(client, env, CUSTOS_CLAMAV_REQUIRE_OFFICIAL="true")
    assert refused["virus_signatures"] == "test-only" and refused["virus_checks"] == "refused"


def test_health_reports_official_signatures_with_their_version(
    client: TestClient, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system = _official_layout(tmp_path / "var-lib-clamav")
    body = _health(
        client,
        env,
        CUSTOS_CLAMAV_SYSTEM_DATABASE=str(system),
        CUSTOS_CLAMAV_REQUIRE_OFFICIAL="true",
    )
    assert body["virus_signatures"] == "official" and body["virus_checks"] == "ok"
    assert body["virus_signatures_version"] == (
        "main 62 (14 Mar 2025 06:12 -0400), daily 27577 (14 Mar 2025 06:12 -0400)"
    )
    assert str(tmp_path) not in client.get("/custos/health").text  # no paths in public


def test_a_named_test_folder_is_test_only_even_beside_official_ones(
    client: TestClient, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    system = _official_layout(tmp_path / "var-lib-clamav")
    shipped = Path(__file__).parents[2] / "custos" / "data" / "clamav"
    body = _health(
        client, env, CUSTOS_CLAMAV_SYSTEM_DATABASE=str(system), CUSTOS_CLAMAV_DATABASE=str(shipped)
    )
    assert body["virus_signatures"] == "test-only"
