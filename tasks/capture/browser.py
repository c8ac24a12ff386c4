"""A shared headless Chromium for captures, driven by Playwright on its own event loop.

Launching Chromium costs about a second, a browser context a few milliseconds,
so one browser serves many captures and each capture gets a fresh context
(no cookies, cache or service workers leak from one capture into the next).
Playwright's async API and the recording proxy share one event loop running in
a background thread, which lets synchronous callers (Prefect tasks, the CLI,
tests) submit captures from any thread. ``max_contexts`` (default: the
``capture_concurrency`` setting) bounds how many captures hold a browser
context at once; further callers wait for a free slot, so N threads can share
one pool safely. Each capture has its own context, proxy and recording, so
their WARCs never mix.

Usage::

    with BrowserPool(chromium_path="/usr/bin/chromium") as pool:
        result = capture(url, out_dir, CaptureOptions(), pool=pool)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from importlib.metadata import version
from typing import Any, TypeVar

from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from custos.errors import ConfigError, ToolFailed
from custos.programs import which
from custos.settings import Settings, get_settings

from .certs import CertificateAuthority

T = TypeVar("T")

#: Chromium must not phone home during a capture: those requests would either be
#: recorded as if the page made them or leak the capture's existence. Nothing may
#: leave the browser except through the recording proxy.
CHROMIUM_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--disable-default-apps",
    "--no-first-run",
    # Sets the ``webrtc.ip_handling_policy`` pref for every context: WebRTC may send UDP
    # only through a proxy that carries UDP, and ours carries none, so a page cannot
    # reach a STUN/TURN server (or a private address) around the proxy and its guard.
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
)
VIEWPORT = {"width": 1600, "height": 900}


class BrowserPool:
    """One Chromium process shared by many captures; close() ends it for sure."""

    def __init__(
        self, chromium_path: str | None = None, *, max_contexts: int | None = None
    ) -> None:
        if max_contexts is None:
            max_contexts = get_settings().capture_concurrency
        if max_contexts < 1:
            raise ConfigError(f"max_contexts must be at least 1, not {max_contexts}")
        if chromium_path is not None and not (
            os.path.isfile(chromium_path) or which(chromium_path)
        ):
            raise ConfigError(f"Chromium executable not found: {chromium_path}")
        self.chromium_path = chromium_path
        self.ca = CertificateAuthority()
        self.browser_version = ""
        self.playwright_version = version("playwright")
        self._max_contexts = max_contexts
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="custos-capture-loop", daemon=True
        )
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._slots: asyncio.Semaphore | None = None
        self._active = 0
        self._closed = False
        self._thread.start()
        try:
            self.run(self._start())
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> BrowserPool:
        """A pool with the configured Chromium and ``capture_concurrency`` slots."""
        settings = settings or get_settings()
        return cls(settings.chromium_executable(), max_contexts=settings.capture_concurrency)

    @property
    def max_contexts(self) -> int:
        """How many captures may hold a browser context at the same time."""
        return self._max_contexts

    @property
    def active_contexts(self) -> int:
        """Captures holding a context right now (for tests and monitoring)."""
        return self._active

    def __enter__(self) -> BrowserPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """Whether the browser process still runs (False once it crashed or was killed)."""
        return self._browser is not None and self._browser.is_connected()

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._closed

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the pool's loop and wait for its result (any thread)."""
        if self._closed:
            coro.close()
            raise ConfigError("the browser pool is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _start(self) -> None:
        self._slots = asyncio.Semaphore(self._max_contexts)
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.chromium_path,
                headless=True,
                # Chromium's sandbox cannot start as root; anywhere else keep it.
                chromium_sandbox=os.geteuid() != 0,
                args=list(CHROMIUM_ARGS),
            )
        except PlaywrightError as exc:
            raise ToolFailed("chromium", None, str(exc)) from exc
        self.browser_version = self._browser.version

    @contextlib.asynccontextmanager
    async def context(self, proxy_port: int) -> AsyncIterator[BrowserContext]:
        """A fresh context whose every request goes through the proxy on ``proxy_port``.

        ``bypass`` is empty on purpose: Playwright then adds ``<-loopback>``, so
        even loopback requests reach the proxy and its guard.
        """
        assert self._browser is not None and self._slots is not None
        async with self._slots:
            self._active += 1
            try:
                context = await self._browser.new_context(
                    proxy={"server": f"http://127.0.0.1:{proxy_port}"},
                    ignore_https_errors=True,
                    viewport=VIEWPORT,  # type: ignore[arg-type]
                    service_workers="block",
                    accept_downloads=False,
                )
                try:
                    yield context
                finally:
                    with contextlib.suppress(PlaywrightError):
                        await context.close()
            finally:
                self._active -= 1

    async def _stop(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
        current = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks() if t is not current]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def close(self) -> None:
        """Close the browser, the Playwright driver and the loop thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        self.ca.close()
