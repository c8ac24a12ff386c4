"""Shared capture fixtures: one browser pool per session (the test site, ``site``, is
the root conftest's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from custos.settings import load_settings
from tasks.capture import BrowserPool, CaptureOptions


@pytest.fixture(scope="session")
def pool() -> Iterator[BrowserPool]:
    chromium = load_settings().chromium_executable()
    assert chromium is not None  # the session's tool check found one
    with BrowserPool(chromium, max_contexts=2) as browser_pool:
        yield browser_pool


@pytest.fixture
def loopback_options() -> CaptureOptions:
    """Perma's limits, loopback allowed (our test site), short idle waits."""
    return CaptureOptions(allow_loopback=True, network_idle_timeout=5, settle_timeout=1)
