"""``/docs`` and ``/redoc`` render in a real browser with no request leaving the machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from custos.settings import get_settings
from tests.support.served import served


@pytest.fixture(scope="module")
def live_url(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port."""
    with served(app) as url:
        yield url


def _render(url: str, selector: str) -> tuple[str, list[str]]:
    """Open ``url`` in Chromium, wait for ``selector``; its text and every off-host request."""
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith(url.split("/docs")[0].split("/redoc")[0]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=get_settings().chromium_executable(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.route("**/*", guard)
            page.goto(url)
            page.wait_for_selector(selector, timeout=30_000)
            text = page.inner_text(selector)
        finally:
            browser.close()
    return text, outside


def test_swagger_ui_renders_offline(live_url: str) -> None:
    text, outside = _render(f"{live_url}/docs", ".swagger-ui .info .title")
    assert "Custos" in text
    assert outside == []


def test_redoc_renders_offline(live_url: str) -> None:
    text, outside = _render(f"{live_url}/redoc", "h1")
    assert "Custos" in text
    assert outside == []


def test_docs_pages_reference_no_other_host(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert "cdn" not in response.text.lower()
        assert "https://" not in response.text
    assert client.get("/assets/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/assets/redoc/redoc.standalone.js").status_code == 200


def test_missing_assets_say_how_to_install(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import create_app

    monkeypatch.setenv("CUSTOS_WEB_ASSETS", str(tmp_path))
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as client:
            response = client.get("/docs")
    finally:
        monkeypatch.delenv("CUSTOS_WEB_ASSETS")
        get_settings.cache_clear()
    assert response.status_code == 503
    assert "make setup" in response.text
