"""WebRTC cannot send UDP around the recording proxy.

A captured page gathers ICE candidates against STUN servers that are UDP
listeners of this test, on loopback and on the machine's own outward address.
Through the pool's Chromium no datagram may reach them; the same page in a
Chromium started without the WebRTC policy does reach them (the control that
shows the listeners would notice).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from custos.settings import load_settings
from tasks.capture import BrowserPool, CaptureOptions, capture
from tasks.capture.browser import CHROMIUM_ARGS

from .site import SiteServer


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.fixture
def stun_listeners() -> Iterator[list[socket.socket]]:
    hosts = ["127.0.0.1"] + [a for a in [_outward_address()] if a]
    listeners = []
    for host in hosts:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        sock.setblocking(False)
        listeners.append(sock)
    yield listeners
    for sock in listeners:
        sock.close()


def page_url(site: SiteServer, listeners: list[socket.socket]) -> str:
    query = "&".join("stun={}:{}".format(*s.getsockname()[:2]) for s in listeners)
    return f"{site.base}/webrtc?{query}"


def datagrams(listeners: list[socket.socket]) -> list[tuple[str, int]]:
    """Every datagram received so far, as (listener address, size)."""
    received = []
    for sock in listeners:
        while True:
            try:
                data, _ = sock.recvfrom(4096)
            except BlockingIOError:
                break
            received.append((str(sock.getsockname()[0]), len(data)))
    return received


def test_captured_page_sends_no_udp(
    pool: BrowserPool, site: SiteServer, stun_listeners: list[socket.socket], tmp_path: Path
) -> None:
    options = CaptureOptions(
        allow_loopback=True,
        network_idle_timeout=2,
        settle_timeout=1,
        screenshot=False,
        favicon=False,
    )
    result = capture(page_url(site, stun_listeners), tmp_path, options, pool=pool)
    time.sleep(1.0)  # a STUN binding request would have left long ago
    assert result.status == 200 and result.dom_path is not None
    gathered = result.dom_path.read_text()
    assert "done" in gathered, "ICE gathering never ran: the test proves nothing"
    assert " typ " not in gathered  # no host, srflx or relay candidate at all
    assert datagrams(stun_listeners) == []


def test_control_without_the_policy_udp_arrives(
    site: SiteServer, stun_listeners: list[socket.socket]
) -> None:
    chromium = load_settings().chromium_executable()
    assert chromium is not None  # the session's tool check found one
    args = [a for a in CHROMIUM_ARGS if "webrtc" not in a]
    assert len(args) < len(CHROMIUM_ARGS), "the pool's WebRTC policy flag is gone"

    async def run() -> list[tuple[str, int]]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium,
                headless=True,
                chromium_sandbox=os.geteuid() != 0,
                args=args,
            )
            try:
                page = await browser.new_page()
                await page.goto(page_url(site, stun_listeners))
                deadline = time.monotonic() + 10
                while not (received := datagrams(stun_listeners)) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                return received
            finally:
                await browser.close()

    assert ("127.0.0.1", 20) in asyncio.run(run())  # a STUN binding request
