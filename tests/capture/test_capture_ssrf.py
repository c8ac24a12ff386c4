"""SSRF defence: banned addresses are refused before any packet is sent to them.

A process-wide audit hook records every ``socket.connect`` this Python process
makes (the proxy is the only thing that connects to origins; Chromium only
talks to the proxy), so the tests can assert that a banned address was never
even dialled. Loopback targets also get a listening socket whose accept queue
must stay empty.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tasks.capture import BrowserPool, CaptureOptions, capture
from tasks.capture.certs import CertificateAuthority
from tasks.capture.netguard import Blocked, Guard
from tasks.capture.proxy import Recording, RecordingProxy

from .site import SiteServer

CONNECTS: list[tuple[str, int]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple):
        CONNECTS.append((str(args[1][0]), int(args[1][1])))


sys.addaudithook(_audit)


def dialled(host: str) -> bool:
    return any(address == host for address, _ in CONNECTS)


@pytest.fixture
def listener(request: pytest.FixtureRequest) -> Iterator[socket.socket]:
    host = request.param
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
    except OSError:
        pytest.skip(f"cannot listen on {host}")
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def accepted_any(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def through_proxy(guard: Guard, url: str) -> tuple[bytes, Recording]:
    """Send one absolute-form GET through a fresh proxy; return the raw response."""

    async def run() -> tuple[bytes, Recording]:
        ca = CertificateAuthority()
        proxy = RecordingProxy(guard, ca, max_bytes=10**6, request_timeout=5)
        port = await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            host = url.split("/")[2]
            writer.write(f"GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.close()
            return head, proxy.recording
        finally:
            await proxy.close()
            ca.close()

    return asyncio.run(run())


@pytest.mark.parametrize("listener", ["127.0.0.1", "127.0.0.2", "::1"], indirect=True)
def test_loopback_is_refused_before_connecting(listener: socket.socket) -> None:
    host, port = listener.getsockname()[:2]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    CONNECTS.clear()
    head, recording = through_proxy(Guard(allow_loopback=False), f"http://{netloc}/")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert [b.rule for b in recording.blocked] in (["127.0.0.0/8"], ["::1/128"])
    assert recording.exchanges == []
    assert not accepted_any(listener), "a packet reached the banned address"
    assert (host, port) not in CONNECTS


@pytest.mark.parametrize("listener", ["127.0.0.1"], indirect=True)
def test_a_name_resolving_to_loopback_is_refused(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    head, recording = through_proxy(Guard(), f"http://localhost:{port}/")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert recording.blocked[0].rule in ("127.0.0.0/8", "::1/128")
    assert not accepted_any(listener)


@pytest.mark.parametrize(("address", "rule"), [
    ("169.254.169.254", "169.254.0.0/16"),
    ("10.0.0.1", "10.0.0.0/8"),
    ("192.168.1.1", "192.168.0.0/16"),
    ("[::ffff:10.1.1.1]", "10.0.0.0/8"),
])
def test_private_and_link_local_are_never_dialled(address: str, rule: str) -> None:
    CONNECTS.clear()
    head, recording = through_proxy(Guard(allow_loopback=True), f"http://{address}/x")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert recording.blocked[0].rule == rule
    assert not dialled(address.strip("[]")) and not dialled(rule.split("/")[0])
    assert all(host.startswith("127.") for host, _ in CONNECTS)


def test_control_allowed_loopback_is_dialled(site: SiteServer) -> None:
    """The audit hook does see the proxy's connections (so the tests above can fail)."""
    CONNECTS.clear()
    head, recording = through_proxy(Guard(allow_loopback=True), site.base + "/simple.html")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert ("127.0.0.1", int(site.base.rsplit(":", 1)[1])) in CONNECTS
    assert recording.exchanges[0].ip == "127.0.0.1"


def test_guard_rules() -> None:
    guard = Guard()
    assert guard.banned_rule("::ffff:169.254.1.1") == "169.254.0.0/16"
    assert guard.banned_rule("fd00::1") == "fc00::/7"
    assert guard.banned_rule("93.184.216.34") is None
    assert Guard(allow_loopback=True).banned_rule("127.9.9.9") is None
    assert Guard(allow_loopback=True).banned_rule("10.0.0.1") == "10.0.0.0/8"
    with pytest.raises(Blocked):
        asyncio.run(guard.resolve("localhost", 80))


def test_redirect_to_metadata_address_is_blocked(pool: BrowserPool, site: SiteServer,
                                                 tmp_path: Path) -> None:
    CONNECTS.clear()
    target = "http://169.254.169.254/latest/meta-data/"
    options = CaptureOptions(allow_loopback=True, network_idle_timeout=2, settle_timeout=0.5)
    result = capture(f"{site.base}/go?to={target}", tmp_path, options, pool=pool)
    assert {"url": target, "rule": "169.254.0.0/16"}.items() <= result.blocked[0].items()
    assert result.status == 403
    assert not dialled("169.254.169.254")
    assert result.provenance_html_path is not None
    assert target in result.provenance_html_path.read_text()


def test_banned_subresource_is_blocked_and_page_still_captured(pool: BrowserPool,
                                                               site: SiteServer,
                                                               tmp_path: Path) -> None:
    CONNECTS.clear()
    options = CaptureOptions(allow_loopback=True, network_idle_timeout=2, settle_timeout=0.5)
    result = capture(f"{site.base}/embed?src=http://10.9.8.7/pixel.png", tmp_path, options,
                     pool=pool)
    assert result.status == 200 and result.error is None
    assert [b["url"] for b in result.blocked] == ["http://10.9.8.7/pixel.png"]
    assert not dialled("10.9.8.7")


def test_loopback_target_refused_when_not_allowed(pool: BrowserPool, site: SiteServer,
                                                  tmp_path: Path) -> None:
    hits = len(site.hits)
    result = capture(site.base + "/index.html", tmp_path, CaptureOptions(), pool=pool)
    assert result.error is not None and "127.0.0.0/8" in result.error
    assert len(site.hits) == hits
    assert result.warc_path is not None and result.resources == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x",
                                 "javascript:alert(1)", "http:///nohost"])
def test_only_http_and_https(pool: BrowserPool, tmp_path: Path, url: str) -> None:
    CONNECTS.clear()
    result = capture(url, tmp_path, CaptureOptions(allow_loopback=True), pool=pool)
    assert result.error is not None and result.blocked
    assert result.resources == 0 and CONNECTS == []
