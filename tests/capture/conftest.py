"""Shared capture fixtures: one browser pool and one loopback test site per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from custos.settings import load_settings
from tasks.capture import BrowserPool, CaptureOptions

from .site import SiteServer


@pytest.fixture(scope="session")
def pool() -> Iterator[BrowserPool]:
    chromium = load_settings().chromium_executable()
    if chromium is None:
        pytest.skip("no Chromium executable (set CUSTOS_CHROMIUM_PATH)")
    with BrowserPool(chromium, max_contexts=2) as browser_pool:
        yield browser_pool


@pytest.fixture(scope="session")
def site() -> Iterator[SiteServer]:
    server = SiteServer("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture
def loopback_options() -> CaptureOptions:
    """Perma's limits, loopback allowed (our test site), short idle waits."""
    return CaptureOptions(allow_loopback=True, network_idle_timeout=5, settle_timeout=1)
