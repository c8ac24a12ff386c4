"""The app around the dialects: broken dialect packages, Perma's /v1/ 404, API workers."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from api import app as app_module
from custos.errors import ConfigError
from custos.runtime.serve import DEFAULT_API_WORKERS, api_workers


def _fake_dialect(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def test_dialect_without_router_is_skipped(monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    _fake_dialect(monkeypatch, "api.empty_dialect")
    _fake_dialect(monkeypatch, "api.odd_dialect", router="not a router")
    monkeypatch.setattr(app_module, "DIALECTS", ("api.empty_dialect", "api.odd_dialect",
                                                 "api.archivematica", "api.not_installed"))
    app = app_module.create_app()
    assert "api.empty_dialect has no APIRouter" in caplog.text
    assert "api.odd_dialect has no APIRouter" in caplog.text
    with TestClient(app) as c:  # the working dialect is served (403: no credentials)
        assert c.get("/api/transfer/completed").status_code == 403


def test_install_hook_runs_after_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    router = APIRouter()

    @router.get("/hooked/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    installed: list[FastAPI] = []
    _fake_dialect(monkeypatch, "api.hooked", router=router, install=installed.append)
    monkeypatch.setattr(app_module, "DIALECTS", ("api.hooked",))
    app = app_module.create_app()
    assert installed == [app]
    with TestClient(app) as c:
        assert c.get("/hooked/ping").json() == {"ok": "yes"}


def test_missing_dependency_inside_a_dialect_is_not_hidden(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'lxml_missing'", name="lxml_missing")

    monkeypatch.setattr(app_module.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        app_module.load_dialect("api.archivematica")


def test_unknown_v1_path_is_perma_plain_text_404_and_api_stays_json(client: TestClient) -> None:
    try:
        import api.perma  # noqa: F401
    except ImportError:
        pytest.skip("api.perma not installed")
    res = client.get("/v1/no-such-endpoint")
    assert (res.status_code, res.text) == (404, "Page Not Found")
    res = client.get("/api/no-such-endpoint")
    assert res.status_code == 404 and res.text != "Page Not Found"
    assert res.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("value", "expected"), [(None, DEFAULT_API_WORKERS), ("", 2),
                                                 ("1", 1), (" 4 ", 4)])
def test_api_workers_setting(value: str | None, expected: int) -> None:
    env = {} if value is None else {"CUSTOS_API_WORKERS": value}
    assert api_workers(env) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "65", "1.5"])
def test_api_workers_rejects_bad_values(value: str) -> None:
    with pytest.raises(ConfigError, match="CUSTOS_API_WORKERS"):
        api_workers({"CUSTOS_API_WORKERS": value})
