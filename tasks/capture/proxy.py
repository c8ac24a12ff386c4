"""The recording proxy: every browser request passes here, is checked, fetched and kept.

Why a proxy of our own (measured, see the capture recipes): Playwright's HAR
stores decoded bodies with sorted headers and misses browser-internal fetches
such as the favicon; warcprox keeps raw bytes but refuses loopback origins,
dedups across captures, digests chunked bodies wrongly and checks no address
ranges; request interception (``context.route``) also misses browser-internal
fetches and hands Chromium a re-made response. A small asyncio HTTP/1.1 proxy
with CONNECT and a throwaway CA keeps the bytes exactly as the origin sent them
(header order and case, chunk framing, ``Content-Encoding``), sees every request
the browser makes, and owns the socket: it resolves a host once, checks the
answer with the guard and connects to that exact address, so a banned address
is refused before a single packet goes to it.

Origins' certificates are verified against the system trust store (``tls.py``);
one that does not verify is still recorded, over a second, unverified
connection, and its origin is listed with the reason in ``Recording.tls``.

Limits of the approach: the origin leg is HTTP/1.1 (the WARC records HTTP/1.1
as sent and received, not the browser's HTTP/2 view); WebSockets are not
recorded; bodies are buffered in memory up to the capture's size limit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .certs import CertificateAuthority, describe_certificate, upstream_context
from .http1 import Body, Head, ProtocolError, TooLarge, parse_head, read_body, read_head
from .netguard import Blocked, Guard
from .tls import OriginVerdicts, origin_of, verifying_context

HOP_BY_HOP_PROXY_HEADERS = ("Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate")


@dataclass
class Exchange:
    """One request and its response, as bytes on the origin leg."""

    url: str
    method: str
    ip: str
    started: dt.datetime
    request_head: Head
    request_body: Body
    response_head: Head
    response_body: Body
    elapsed_ms: float

    @property
    def status(self) -> int:
        """The response status code."""
        return int(self.response_head.start_line.split(" ", 2)[1])

    @property
    def size(self) -> int:
        """Bytes on the wire for both directions."""
        return (
            len(self.request_head.encode())
            + len(self.request_body.raw)
            + len(self.response_head.encode())
            + len(self.response_body.raw)
        )


@dataclass
class BlockedRequest:
    """A request the guard refused, for the provenance summary."""

    url: str
    rule: str
    at: str


@dataclass
class FailedRequest:
    """A request that was allowed but could not be fetched."""

    url: str
    error: str
    at: str


@dataclass
class Recording:
    """Everything one capture's proxy saw."""

    exchanges: list[Exchange] = field(default_factory=list)
    blocked: list[BlockedRequest] = field(default_factory=list)
    failed: list[FailedRequest] = field(default_factory=list)
    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)
    tls: OriginVerdicts = field(default_factory=OriginVerdicts)
    total_bytes: int = 0
    limit_hit: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _split_hostport(target: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit("//" + target)
    return parts.hostname or "", parts.port or default_port


def _simple_response(status: int, reason: str, text: str, close: bool = False) -> bytes:
    body = text.encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if close:
        head += "Connection: close\r\n"
    return head.encode("latin-1") + b"\r\n" + body


class RecordingProxy:
    """An HTTP/HTTPS forward proxy on loopback that records one capture.

    Usage (inside a running event loop)::

        proxy = RecordingProxy(Guard(allow_loopback=False), ca, max_bytes=200 * 2**20)
        port = await proxy.start()
        ...  # point a browser context at http://127.0.0.1:{port}
        await proxy.close()
        proxy.recording.exchanges
    """

    def __init__(
        self,
        guard: Guard,
        ca: CertificateAuthority,
        *,
        max_bytes: int,
        max_resources: int | None = None,
        request_timeout: float = 30.0,
        trust: ssl.SSLContext | None = None,
    ) -> None:
        self.guard = guard
        self.recording = Recording()
        self._ca = ca
        self._max_bytes = max_bytes
        self._max_resources = max_resources
        self._forwarded = 0  # requests sent on to an origin (counted before they finish)
        self._timeout = request_timeout
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._upstream_ssl = upstream_context()
        self._trust = trust if trust is not None else verifying_context()
        self.stopped = False

    async def start(self) -> int:
        """Listen on an ephemeral loopback port and return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = int(self._server.sockets[0].getsockname()[1])
        self.guard = self.guard.with_protected(port, "capture proxy")
        return port

    async def close(self) -> None:
        """Stop listening and drop every browser connection."""
        self.stopped = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def stop_recording(self) -> None:
        """Refuse further requests (the capture hit a limit or is finishing)."""
        self.stopped = True

    async def fetch(self, url: str, headers: list[tuple[str, str]]) -> Exchange | None:
        """Fetch ``url`` outside the page (e.g. the favicon), through the same guard."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        netloc = parts.netloc.rpartition("@")[2]
        head = Head(f"GET {path} HTTP/1.1", [("Host", netloc), *headers])
        try:
            return await self._forward(url, scheme, host, port, head, Body(b"", b""))
        except Blocked:
            return None
        except (OSError, ProtocolError, TooLarge, TimeoutError):
            return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        origin: tuple[str, str, int] | None = None
        try:
            while True:
                raw = await read_head(reader)
                if raw is None:
                    break
                head = parse_head(raw)
                method, _, target = head.start_line.partition(" ")
                target = target.rsplit(" ", 1)[0]
                if method.upper() == "CONNECT" and origin is None:
                    host, port = _split_hostport(target, 443)
                    writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    await writer.drain()
                    await writer.start_tls(self._ca.context_for(host))
                    origin = ("https", host, port)
                    continue
                if not await self._handle(reader, writer, head, method.upper(), target, origin):
                    break
        except (
            ProtocolError,
            ConnectionError,
            ssl.SSLError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            OSError,
        ):
            pass
        except asyncio.CancelledError:
            # close() cancels connections still open; the server's callback must see
            # a normal end, or asyncio logs the cancellation as an error.
            pass
        finally:
            self._clients.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _handle(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: Head,
        method: str,
        target: str,
        origin: tuple[str, str, int] | None,
    ) -> bool:
        """Answer one browser request; False when the browser connection must close."""
        if origin is None:
            parts = urlsplit(target)
            scheme = parts.scheme.lower()
            host = parts.hostname or ""
            port = parts.port or 80
            url = target
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        else:
            scheme, host, port = origin
            default = 443 if scheme == "https" else 80
            netloc = f"[{host}]" if ":" in host else host
            if port != default:
                netloc += f":{port}"
            url = f"{scheme}://{netloc}{target}"
            path = target
        budget = max(self._max_bytes - self.recording.total_bytes, 0)
        try:
            request_body = await read_body(reader, head, is_request=True, budget=budget)
        except TooLarge:
            self._hit_size_limit()
            writer.write(
                _simple_response(
                    503, "Service Unavailable", "capture size limit reached", close=True
                )
            )
            await writer.drain()
            return False
        if scheme != "http" and origin is None:
            self.recording.blocked.append(BlockedRequest(url, f"scheme {scheme}", _now()))
            writer.write(_simple_response(403, "Forbidden", "scheme not allowed"))
            await writer.drain()
            return True
        if self.stopped:
            writer.write(
                _simple_response(503, "Service Unavailable", "capture finished", close=True)
            )
            await writer.drain()
            return False
        if self._max_resources is not None and self._forwarded >= self._max_resources:
            self.recording.limit_hit = self.recording.limit_hit or "max_resources"
            self.stopped = True
            writer.write(
                _simple_response(
                    503, "Service Unavailable", "capture resource limit reached", close=True
                )
            )
            await writer.drain()
            return False
        self._forwarded += 1
        upstream_head = Head(f"{method} {path} HTTP/1.1", head.without(*HOP_BY_HOP_PROXY_HEADERS))
        try:
            exchange = await self._forward(url, scheme, host, port, upstream_head, request_body)
        except Blocked as exc:
            self.recording.blocked.append(BlockedRequest(url, exc.rule, _now()))
            writer.write(
                _simple_response(
                    403,
                    "Forbidden",
                    f"During capture, request for {url} matched blocklist rule {exc.rule} "
                    "and was blocked.",
                )
            )
            await writer.drain()
            return True
        except TooLarge:
            self._hit_size_limit()
            writer.write(
                _simple_response(
                    503, "Service Unavailable", "capture size limit reached", close=True
                )
            )
            await writer.drain()
            return False
        except (OSError, ProtocolError, TimeoutError) as exc:
            self.recording.failed.append(FailedRequest(url, f"{type(exc).__name__}: {exc}", _now()))
            writer.write(_simple_response(502, "Bad Gateway", "origin unreachable", close=True))
            await writer.drain()
            return False
        writer.write(exchange.response_head.encode() + exchange.response_body.raw)
        await writer.drain()
        connection = (exchange.response_head.get("Connection") or "").lower()
        return not exchange.response_body.until_close and "close" not in connection

    def _hit_size_limit(self) -> None:
        self.recording.limit_hit = self.recording.limit_hit or "max_size"
        self.stopped = True

    async def _forward(
        self, url: str, scheme: str, host: str, port: int, head: Head, body: Body
    ) -> Exchange:
        """Check, connect to the checked address, send, read and record one exchange."""
        ip = await self.guard.resolve(host, port)
        started = dt.datetime.now(dt.UTC)
        clock = time.perf_counter()
        async with asyncio.timeout(self._timeout):
            upstream_reader, upstream_writer = await self._connect(scheme, host, ip, port)
            try:
                upstream_writer.write(head.encode() + body.raw)
                await upstream_writer.drain()
                raw = await read_head(upstream_reader)
                if raw is None:
                    raise ProtocolError("origin closed without a response")
                response_head = parse_head(raw)
                budget = self._max_bytes - self.recording.total_bytes
                response_body = await read_body(
                    upstream_reader,
                    response_head,
                    is_request=False,
                    request_method=head.start_line.split(" ", 1)[0],
                    budget=budget,
                )
            finally:
                upstream_writer.close()
        exchange = Exchange(
            url,
            head.start_line.split(" ", 1)[0],
            ip,
            started,
            head,
            body,
            response_head,
            response_body,
            (time.perf_counter() - clock) * 1000,
        )
        self.recording.exchanges.append(exchange)
        self.recording.total_bytes += exchange.size
        return exchange

    async def _connect(
        self, scheme: str, host: str, ip: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open the origin leg to the checked ``ip``; for https, verify first.

        A certificate that fails verification ends that handshake before any
        request byte is sent; the verdict is kept for the origin and the
        connection is made again without verification, so the page is still
        recorded. Later connections to an unverified origin skip the first try.
        """
        if scheme != "https":
            return await asyncio.open_connection(ip, port)
        origin = origin_of(scheme, host, port)
        verdict = self.recording.tls.get(origin)
        if verdict is None or verdict.verified:
            try:
                reader, writer = await asyncio.open_connection(
                    ip, port, ssl=self._trust, server_hostname=host
                )
            except ssl.SSLCertVerificationError as exc:
                self.recording.tls.refused(origin, exc)
            else:
                self.recording.tls.verified(origin, self._note_certificate(host, writer))
                return reader, writer
        reader, writer = await asyncio.open_connection(
            ip, port, ssl=self._upstream_ssl, server_hostname=host
        )
        self.recording.tls.note_certificate(origin, self._note_certificate(host, writer))
        return reader, writer

    def _note_certificate(self, host: str, writer: asyncio.StreamWriter) -> str | None:
        """Describe the origin's certificate once per host; return its SHA-256."""
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if not der:
            return None
        if host not in self.recording.certificates:
            self.recording.certificates[host] = describe_certificate(der)
        return hashlib.sha256(der).hexdigest()
