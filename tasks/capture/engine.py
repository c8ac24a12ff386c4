"""Capture one web page into a WARC (and optionally a WACZ) with its attachments.

Steps, as in Perma/Scoop: check the URL, start a recording proxy (see
``proxy.py`` for why a proxy), load the page in a fresh Chromium context that
sends everything through it, wait for the network to go idle, scroll to load
lazy content, settle, then make the attachments (screenshot, DOM snapshot,
optional PDF, favicon, provenance summary) and write everything to one WARC.
A limit (capture time, load time, total size) ends the recording early; what
was recorded up to then is still written, and ``limit_hit`` names the limit.

Usage::

    with BrowserPool(settings.chromium_executable()) as pool:
        result = capture("https://example.org/", out_dir,
                         CaptureOptions.from_settings(settings), pool=pool)
        result.warc_path, result.blocked, result.limit_hit
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import mimetypes
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request
from playwright.async_api import TimeoutError as PlaywrightTimeout

from custos.errors import ConfigError
from custos.settings import Settings, get_settings

from .behaviour import read_outlinks, read_page_info, scroll_to_bottom, wait_network_idle
from .browser import BrowserPool
from .netguard import Blocked, Guard, check_scheme, service_hosts, service_ports
from .provenance import software_line, software_versions, write_provenance
from .proxy import BlockedRequest, Exchange, RecordingProxy
from .tls import verifying_context
from .wacz import write_wacz
from .warc import Attachment, MetadataRecord, verify_warc, write_warc


@dataclass(frozen=True)
class CaptureOptions:
    """Limits and switches of one capture; defaults are Perma's (capture.md 1.10)."""

    capture_timeout: float = 45.0
    load_timeout: float = 20.0
    network_idle_timeout: float = 20.0
    scroll_timeout: float = 5.0
    settle_timeout: float = 2.0
    attachment_timeout: float = 10.0
    max_size: int = 200 * 1024 * 1024
    max_resources: int = 2000
    allow_loopback: bool = False
    screenshot: bool = True
    dom_snapshot: bool = True
    pdf: bool = False
    favicon: bool = True
    wacz: bool = False
    #: Extra trusted CA certificates (PEM) beside the system store, for verifying origins.
    ca_bundle: Path | None = None
    #: Ports of Custos' own services, refused even on an allowed loopback (None: the
    #: settings' ones, see ``netguard.service_ports``), and the addresses they bind to.
    protected_ports: tuple[tuple[int, str], ...] | None = None
    service_hosts: tuple[str, ...] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> CaptureOptions:
        """Options from the ``CUSTOS_CAPTURE_*`` settings, with per-call overrides."""
        values: dict[str, Any] = {
            "capture_timeout": settings.capture_timeout,
            "load_timeout": settings.capture_load_timeout,
            "max_size": settings.capture_max_size,
            "max_resources": settings.capture_max_resources,
            "allow_loopback": settings.capture_allow_loopback,
            "ca_bundle": settings.capture_ca_bundle,
            "protected_ports": service_ports(settings),
            "service_hosts": service_hosts(settings),
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class CaptureResult:
    """Everything a capture produced; paths are None for what was not made."""

    url: str
    final_url: str | None = None
    status: int | None = None
    title: str = ""
    description: str = ""
    favicon_url: str | None = None
    warc_path: Path | None = None
    wacz_path: Path | None = None
    screenshot_path: Path | None = None
    dom_path: Path | None = None
    pdf_path: Path | None = None
    favicon_path: Path | None = None
    provenance_json_path: Path | None = None
    provenance_html_path: Path | None = None
    blocked: list[dict[str, str]] = field(default_factory=list)
    limit_hit: str | None = None
    resources: int = 0
    total_bytes: int = 0
    user_agent: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    outlinks: list[str] = field(default_factory=list)
    #: Per https origin: verified or not, the reason, the certificate's SHA-256.
    tls: list[dict[str, Any]] = field(default_factory=list)
    tls_unverified_origins: list[str] = field(default_factory=list)
    #: Chromium died during the capture (crashed, killed, out of memory)
    browser_crashed: bool = False


def capture(
    url: str, out_dir: Path, options: CaptureOptions | None = None, pool: BrowserPool | None = None
) -> CaptureResult:
    """Capture ``url`` into ``out_dir`` (created if missing) and describe the result.

    Without ``pool`` a browser is started for this one capture (from the
    ``CUSTOS_CHROMIUM_PATH`` setting) and closed afterwards; pass a pool to
    reuse one browser across captures. Blocked targets and failed loads are
    reported in ``error``/``blocked`` rather than raised; a browser that cannot
    start raises ``ToolFailed``.
    """
    if options is None:
        options = CaptureOptions.from_settings(get_settings())
    if pool is None:
        with BrowserPool(get_settings().chromium_executable()) as own:
            return _crash_aware(url, own, _capture(url, Path(out_dir), options, own))
    return _crash_aware(url, pool, _capture(url, Path(out_dir), options, pool))


def _crash_aware(url: str, pool: BrowserPool, work: Any) -> CaptureResult:
    """Run the capture; a browser that died meanwhile marks the result
    ``browser_crashed``, with the error Chromium's death caused as the reason."""
    try:
        result: CaptureResult = pool.run(work)
    except PlaywrightError as exc:
        if pool.connected:
            raise
        return CaptureResult(
            url=url, error=f"browser crashed: {exc.message.splitlines()[0]}", browser_crashed=True
        )
    except (concurrent.futures.CancelledError, ConfigError):
        if pool.connected and not pool.closed:
            raise
        # a shared pool whose browser died is closed by its owner (tasks.capture.warm),
        # which cancels what still ran on it: the capture is retried on a new browser
        return CaptureResult(
            url=url,
            error="browser crashed: Chromium exited during the capture",
            browser_crashed=True,
        )
    if not pool.connected:
        result.browser_crashed = True
        reason = result.error.removeprefix("navigation failed: ") if result.error else None
        result.error = f"browser crashed: {reason or 'Chromium exited during the capture'}"
    return result


class _Clock:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}
        self._last = self.start

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 3)
        self._last = now

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


async def _capture(
    url: str, out_dir: Path, options: CaptureOptions, pool: BrowserPool
) -> CaptureResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    started_at = dt.datetime.now(dt.UTC).isoformat()
    result = CaptureResult(url=url)
    guard = _guard(options)
    proxy = RecordingProxy(
        guard,
        pool.ca,
        max_bytes=options.max_size,
        max_resources=options.max_resources,
        request_timeout=options.load_timeout,
        trust=verifying_context(options.ca_bundle),
    )
    attachments: list[Attachment] = []
    problems: list[str] = []
    resource_types: dict[str, str] = {}
    try:
        parts = urlsplit(url)
        check_scheme(parts.scheme, url)
        if not parts.hostname:
            raise Blocked(url, "no host")
        # Early refusal only; the proxy checks again on the address it connects to.
        await guard.resolve(
            parts.hostname, parts.port or (443 if parts.scheme.lower() == "https" else 80)
        )
    except (Blocked, ValueError) as exc:
        rule = exc.rule if isinstance(exc, Blocked) else f"invalid URL ({exc})"
        proxy.recording.blocked.append(BlockedRequest(url, rule, started_at))
        result.error = f"target refused: {rule}"
    else:
        port = await proxy.start()
        try:
            async with pool.context(port) as context:
                page = await context.new_page()

                # Chromium's own view of each request (document, script, image...),
                # which the proxy cannot see; it goes into the pageinfo record.
                def note_type(request: Request) -> None:
                    resource_types.setdefault(request.url, request.resource_type)

                page.on("request", note_type)
                await _browse(page, url, options, proxy, result, clock)
                proxy.stop_recording()
                attachments += await _attachments(page, out_dir, options, proxy, result, problems)
                clock.lap("attachments")
        finally:
            await proxy.close()
    if result.limit_hit is None:
        result.limit_hit = proxy.recording.limit_hit
    recording = proxy.recording
    result.blocked = [asdict(b) for b in recording.blocked]
    result.resources = len(recording.exchanges)
    result.total_bytes = recording.total_bytes
    result.tls = recording.tls.as_list()
    result.tls_unverified_origins = recording.tls.unverified()
    versions = software_versions(pool.browser_version)
    summary: dict[str, Any] = {
        "url": url,
        "final_url": result.final_url,
        "status": result.status,
        "started_at": started_at,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "title": result.title,
        "description": result.description,
        "favicon_url": result.favicon_url,
        "software": versions,
        "user_agent": result.user_agent,
        "blocked_requests": result.blocked,
        "failed_requests": [asdict(f) for f in recording.failed],
        "limit_hit": result.limit_hit,
        "limits": {
            "capture_timeout": options.capture_timeout,
            "load_timeout": options.load_timeout,
            "max_size": options.max_size,
            "max_resources": options.max_resources,
        },
        "resources": result.resources,
        "total_bytes": result.total_bytes,
        "timings": clock.timings,
        "certificates": list(recording.certificates.values()),
        "tls": result.tls,
        "tls_unverified_origins": result.tls_unverified_origins,
        "error": result.error,
        "attachment_errors": problems,
    }
    result.provenance_json_path = out_dir / "provenance-summary.json"
    result.provenance_html_path = out_dir / "provenance-summary.html"
    # File writing and digesting run off the loop: a second capture sharing the
    # pool's loop keeps proxying while this one writes its WARC.
    await asyncio.to_thread(
        write_provenance, summary, result.provenance_json_path, result.provenance_html_path
    )
    attachments += [
        Attachment("file:///provenance-summary.html", result.provenance_html_path, "text/html"),
        Attachment(
            "file:///provenance-summary.json", result.provenance_json_path, "application/json"
        ),
    ]
    result.warc_path = out_dir / "archive.warc.gz"
    pageinfo = MetadataRecord(
        f"urn:pageinfo:{url}",
        json.dumps(
            page_info_record(url, started_at, result, recording.exchanges, resource_types), indent=1
        ).encode("utf-8"),
        "application/json",
        concurrent_to=url,
    )
    await asyncio.to_thread(
        write_warc,
        result.warc_path,
        exchanges=recording.exchanges,
        attachments=attachments,
        metadata=[pageinfo],
        warcinfo={
            "software": software_line(versions),
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/"
            "specifications/warc-format/warc-1.1/",
            "description": f"Capture of {url}",
            "http-header-user-agent": result.user_agent,
        },
    )
    await asyncio.to_thread(verify_warc, result.warc_path)
    if options.wacz:
        result.wacz_path = out_dir / "archive.wacz"
        await asyncio.to_thread(
            write_wacz,
            result.warc_path,
            result.wacz_path,
            url=url,
            title=result.title,
            started_at=started_at,
        )
    clock.lap("write")
    result.timings = clock.timings
    result.timings["total"] = round(clock.elapsed(), 3)
    return result


def _guard(options: CaptureOptions) -> Guard:
    """The capture's SSRF guard; service ports default to the settings' own."""
    ports, hosts = options.protected_ports, options.service_hosts
    if ports is None or hosts is None:
        settings = get_settings()
        ports = service_ports(settings) if ports is None else ports
        hosts = service_hosts(settings) if hosts is None else hosts
    return Guard(options.allow_loopback, ports, hosts)


async def _browse(
    page: Page,
    url: str,
    options: CaptureOptions,
    proxy: RecordingProxy,
    result: CaptureResult,
    clock: _Clock,
) -> None:
    """Load, idle, scroll, settle; stop at the first limit hit."""
    try:
        async with asyncio.timeout(options.capture_timeout):
            try:
                response = await page.goto(
                    url, wait_until="load", timeout=options.load_timeout * 1000
                )
                result.status = response.status if response is not None else None
            except PlaywrightTimeout:
                result.limit_hit = "load_timeout"
            except PlaywrightError as exc:
                result.error = f"navigation failed: {exc.message}"
            clock.lap("load")
            if result.limit_hit or result.error or proxy.recording.limit_hit:
                return
            await wait_network_idle(page, options.network_idle_timeout)
            clock.lap("network_idle")
            if proxy.recording.limit_hit:
                return
            await scroll_to_bottom(page, options.scroll_timeout)
            await wait_network_idle(page, options.settle_timeout)
            clock.lap("scroll_and_settle")
    except TimeoutError:
        result.limit_hit = "capture_timeout"
        clock.lap("capture_timeout")
    finally:
        result.final_url = page.url
        if result.status is None:
            result.status = _recorded_status(proxy.recording.exchanges, page.url)


def page_info_record(
    url: str,
    started_at: str,
    result: CaptureResult,
    exchanges: list[Exchange],
    resource_types: dict[str, str],
) -> dict[str, Any]:
    """The capture's page info in Browsertrix's ``urn:pageinfo:`` shape, plus outlinks.

    Browsertrix keys every URL the page loaded to its status, MIME type and
    resource type; replay and QA tools read it to tell what the page needed
    without parsing the WARC. We add what Perma/Scoop keep as ``pageInfo``
    (title, description, favicon, final URL) and the outlinks a later crawl
    could follow, the way Heritrix's ``metadata`` records list them.
    """
    urls: dict[str, dict[str, Any]] = {}
    for exchange in exchanges:
        mime = (exchange.response_head.get("Content-Type") or "").split(";")[0].strip()
        urls.setdefault(
            exchange.url,
            {
                "status": exchange.status,
                "mime": mime,
                "type": resource_types.get(exchange.url, "other"),
            },
        )
    return {
        "pageid": str(uuid.uuid4()),
        "url": url,
        "ts": started_at,
        "title": result.title,
        "description": result.description,
        "favIconUrl": result.favicon_url,
        "finalUrl": result.final_url,
        "status": result.status,
        "limitHit": result.limit_hit,
        "tls": result.tls,
        "tlsUnverifiedOrigins": result.tls_unverified_origins,
        "urls": urls,
        "outlinks": result.outlinks,
        "counts": {
            "resources": len(urls),
            "outlinks": len(result.outlinks),
            "blocked": len(result.blocked),
        },
    }


def _recorded_status(exchanges: list[Exchange], url: str) -> int | None:
    for exchange in reversed(exchanges):
        if exchange.url == url:
            return exchange.status
    return None


async def _attachments(
    page: Page,
    out_dir: Path,
    options: CaptureOptions,
    proxy: RecordingProxy,
    result: CaptureResult,
    problems: list[str],
) -> list[Attachment]:
    """Make the screenshot, DOM snapshot, PDF and favicon; note failures, don't raise."""
    made: list[Attachment] = []
    bound = options.attachment_timeout

    async def attempt(name: str, step: Any) -> None:
        try:
            async with asyncio.timeout(bound):
                await step()
        except (PlaywrightError, TimeoutError, OSError) as exc:
            problems.append(f"{name}: {type(exc).__name__}: {exc}")

    async def info() -> None:
        page_info = await read_page_info(page)
        result.title, result.description = page_info.title, page_info.description
        result.favicon_url = page_info.favicon_url
        result.user_agent = str(await page.evaluate("navigator.userAgent"))
        result.outlinks = await read_outlinks(page)

    async def screenshot() -> None:
        path = out_dir / "screenshot.png"
        await page.screenshot(path=path, full_page=True, timeout=bound * 1000)
        result.screenshot_path = path
        made.append(Attachment("file:///screenshot.png", path, "image/png"))

    async def dom() -> None:
        path = out_dir / "dom-snapshot.html"
        path.write_text(await page.content(), encoding="utf-8")
        result.dom_path = path
        made.append(Attachment("file:///dom-snapshot.html", path, "text/html"))

    async def pdf() -> None:
        path = out_dir / "pdf-snapshot.pdf"
        await page.pdf(path=path)
        result.pdf_path = path
        made.append(Attachment("file:///pdf-snapshot.pdf", path, "application/pdf"))

    async def favicon() -> None:
        if not result.favicon_url or urlsplit(result.favicon_url).scheme not in ("http", "https"):
            return
        found = _favicon_from(proxy.recording.exchanges, result.favicon_url)
        if found is None:
            exchange = await proxy.fetch(
                result.favicon_url,
                [("User-Agent", result.user_agent), ("Accept", "image/*,*/*;q=0.8")],
            )
            found = _decoded_image(exchange) if exchange is not None else None
        if found is None:
            return
        body, content_type = found
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".ico"
        path = out_dir / f"favicon{extension}"
        path.write_bytes(body)
        result.favicon_path = path
        made.append(Attachment(f"file:///favicon{extension}", path, content_type))

    await attempt("page info", info)
    if options.screenshot:
        await attempt("screenshot", screenshot)
    if options.dom_snapshot:
        await attempt("dom snapshot", dom)
    if options.pdf:
        await attempt("pdf", pdf)
    if options.favicon:
        await attempt("favicon", favicon)
    return made


def _favicon_from(exchanges: list[Exchange], url: str) -> tuple[bytes, str] | None:
    for exchange in exchanges:
        if exchange.url == url:
            decoded = _decoded_image(exchange)
            if decoded is not None:
                return decoded
    return None


def _decoded_image(exchange: Exchange) -> tuple[bytes, str] | None:
    """The body without content coding, if it is a 200 we can decode."""
    if exchange.status != 200 or not exchange.response_body.payload:
        return None
    encoding = (exchange.response_head.get("Content-Encoding") or "identity").lower()
    body = exchange.response_body.payload
    with contextlib.suppress(zlib.error):
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS), _type(exchange)
        if encoding == "deflate":
            return zlib.decompress(body), _type(exchange)
    if encoding == "identity":
        return body, _type(exchange)
    return None


def _type(exchange: Exchange) -> str:
    return exchange.response_head.get("Content-Type") or "image/x-icon"
