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

from custos.settings import load_settings
from tasks.capture import BrowserPool, CaptureOptions, capture
from tasks.capture.certs import CertificateAuthority
from tasks.capture.netguard import Blocked, Guard, service_ports
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


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("169.254.169.254", "169.254.0.0/16"),
        ("10.0.0.1", "10.0.0.0/8"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("[::ffff:10.1.1.1]", "10.0.0.0/8"),
    ],
)
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


def test_redirect_to_metadata_address_is_blocked(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    CONNECTS.clear()
    target = "http://169.254.169.254/latest/meta-data/"
    options = CaptureOptions(allow_loopback=True, network_idle_timeout=2, settle_timeout=0.5)
    result = capture(f"{site.base}/go?to={target}", tmp_path, options, pool=pool)
    assert {"url": target, "rule": "169.254.0.0/16"}.items() <= result.blocked[0].items()
    assert result.status == 403
    assert not dialled("169.254.169.254")
    assert result.provenance_html_path is not None
    assert target in result.provenance_html_path.read_text()


def test_banned_subresource_is_blocked_and_page_still_captured(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    CONNECTS.clear()
    options = CaptureOptions(allow_loopback=True, network_idle_timeout=2, settle_timeout=0.5)
    result = capture(
        f"{site.base}/embed?src=http://10.9.8.7/pixel.png", tmp_path, options, pool=pool
    )
    assert result.status == 200 and result.error is None
    assert [b["url"] for b in result.blocked] == ["http://10.9.8.7/pixel.png"]
    assert not dialled("10.9.8.7")


def test_loopback_target_refused_when_not_allowed(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    hits = len(site.hits)
    result = capture(site.base + "/index.html", tmp_path, CaptureOptions(), pool=pool)
    assert result.error is not None and "127.0.0.0/8" in result.error
    assert len(site.hits) == hits
    assert result.warc_path is not None and result.resources == 0


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/x", "javascript:alert(1)", "http:///nohost"]
)
def test_only_http_and_https(pool: BrowserPool, tmp_path: Path, url: str) -> None:
    CONNECTS.clear()
    result = capture(url, tmp_path, CaptureOptions(allow_loopback=True), pool=pool)
    assert result.error is not None and result.blocked
    assert result.resources == 0 and CONNECTS == []


# -- IPv6 spellings of IPv4 and deprecated local ranges --------------------------------
@pytest.mark.parametrize(
    ("address", "rule", "loopback_opens_it"),
    [
        ("::127.0.0.1", "::/96 (IPv4-compatible 127.0.0.1)", False),
        ("::a00:1", "::/96 (IPv4-compatible 10.0.0.1)", False),
        ("::8.8.8.8", "::/96 (IPv4-compatible 8.8.8.8)", False),  # deprecated whatever it carries
        ("::ffff:127.0.0.1", "127.0.0.0/8", True),  # mapped: judged as the IPv4 it is
        ("::ffff:192.168.0.1", "192.168.0.0/16", False),
        ("::ffff:0:10.0.0.1", "::ffff:0:0:0/96 (IPv4-translated 10.0.0.1)", False),
        ("64:ff9b::10.0.0.1", "64:ff9b::/96 (NAT64 10.0.0.1)", False),
        ("64:ff9b::169.254.169.254", "64:ff9b::/96 (NAT64 169.254.169.254)", False),
        ("64:ff9b::127.0.0.1", "64:ff9b::/96 (NAT64 127.0.0.1)", False),
        ("64:ff9b:1::a00:1", "64:ff9b:1::/48", False),
        ("2002:a00:1::1", "2002::/16 (6to4 10.0.0.1)", False),
        ("2002:7f00:1::1", "2002::/16 (6to4 127.0.0.1)", False),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001::/32 (Teredo 10.0.0.1)", False),
        ("fec0::1", "fec0::/10", False),
        ("feff:ffff::1", "fec0::/10", False),
        ("fe80::1%1", "fe80::/10", False),
        ("::", "::/128", False),
        ("::1", "::1/128", True),
        ("3fff::1", "3fff::/20", False),
        ("2001:4860:4860::8888", None, True),
        ("::ffff:8.8.8.8", None, True),
        ("8.8.8.8", None, True),
    ],
)
def test_ipv6_spellings_of_local_addresses(
    address: str, rule: str | None, loopback_opens_it: bool
) -> None:
    assert Guard().banned_rule(address) == rule
    assert Guard(allow_loopback=True).banned_rule(address) == (None if loopback_opens_it else rule)


@pytest.mark.parametrize("listener", ["127.0.0.1"], indirect=True)
@pytest.mark.parametrize(
    "spelling",
    ["[::127.0.0.1]", "[::ffff:0:127.0.0.1]", "[64:ff9b::127.0.0.1]", "[2002:7f00:1::1]"],
)
def test_ipv6_spellings_of_loopback_are_never_dialled(
    listener: socket.socket, spelling: str
) -> None:
    port = listener.getsockname()[1]
    CONNECTS.clear()
    head, recording = through_proxy(Guard(allow_loopback=True), f"http://{spelling}:{port}/")
    assert head.startswith(b"HTTP/1.1 403 ")
    assert "127.0.0.1" in recording.blocked[0].rule
    assert recording.exchanges == [] and not accepted_any(listener)
    assert all(address != spelling.strip("[]") for address, _ in CONNECTS)


# -- Custos' own ports stay closed when loopback is open (tests) -------------------------
def test_service_ports_name_the_api_prefect_and_database() -> None:
    settings = load_settings(
        port=8123, prefect_port=4321, database_url="postgresql+psycopg://u@127.0.0.1:6543/db"
    )
    ports = dict(
        service_ports(
            settings,
            {
                "PREFECT_API_URL": "http://127.0.0.1:4555/api",
                "PREFECT_RUNNER_SERVER_ENABLE": "true",
                "PREFECT_RUNNER_SERVER_PORT": "8089",
            },
        )
    )
    assert {
        8123: "API",
        4321: "Prefect server",
        4555: "Prefect server",
        8089: "Prefect runner",
        6543: "database",
    }.items() <= ports.items()


def test_serve_passes_its_api_port_to_every_child(tmp_path: Path) -> None:
    """The runner's flows learn the port ``custos serve --port`` chose."""
    from custos.runtime.env import child_env

    env = child_env(
        load_settings(home=tmp_path, port=8765, prefect_port=4765), "http://127.0.0.1:4765/api"
    )
    child = load_settings(
        **{
            k.removeprefix("CUSTOS_").lower(): v
            for k, v in env.items()
            if k in ("CUSTOS_PORT", "CUSTOS_PREFECT_PORT", "CUSTOS_HOME")
        }
    )
    assert {8765, 4765} <= dict(service_ports(child, env)).keys()


@pytest.fixture
def service_listeners() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two loopback listeners standing in for the API and the Prefect server."""
    pair = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        pair.append(sock)
    yield pair[0], pair[1]
    for sock in pair:
        sock.close()


def test_allowed_loopback_still_refuses_api_and_prefect_ports(
    pool: BrowserPool,
    site: SiteServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    service_listeners: tuple[socket.socket, socket.socket],
) -> None:
    api, prefect = (s.getsockname()[1] for s in service_listeners)
    monkeypatch.setenv("CUSTOS_PORT", str(api))
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{prefect}/api")
    settings = load_settings(capture_allow_loopback=True)
    options = CaptureOptions.from_settings(
        settings, network_idle_timeout=2, settle_timeout=0.5, screenshot=False
    )
    api_url, prefect_url = (
        f"http://127.0.0.1:{api}/api/v2/status",
        f"http://localhost:{prefect}/api/health",
    )
    hits = len(site.hits)
    result = capture(
        f"{site.base}/embed?src={api_url}&src={prefect_url}", tmp_path, options, pool=pool
    )
    assert result.status == 200 and len(site.hits) > hits  # the test site itself is open
    rules = {b["url"]: b["rule"] for b in result.blocked}
    assert rules == {
        api_url: f"port {api} of Custos' own API",
        prefect_url: f"port {prefect} of Custos' own Prefect server",
    }
    assert not any(accepted_any(s) for s in service_listeners)

    target = capture(f"http://127.0.0.1:{api}/", tmp_path / "target", options, pool=pool)
    assert target.error == f"target refused: port {api} of Custos' own API"
    assert target.resources == 0 and not accepted_any(service_listeners[0])


def test_a_page_cannot_reach_its_own_recording_proxy() -> None:
    """The proxy refuses requests to its own port (a loop through itself)."""

    async def run() -> tuple[bytes, Recording]:
        ca = CertificateAuthority()
        proxy = RecordingProxy(Guard(allow_loopback=True), ca, max_bytes=10**6, request_timeout=5)
        port = await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.close()
            return head, proxy.recording
        finally:
            await proxy.close()
            ca.close()

    head, recording = asyncio.run(run())
    assert head.startswith(b"HTTP/1.1 403 ")
    assert recording.blocked[0].rule.endswith("of Custos' own capture proxy")
    assert recording.exchanges == []
