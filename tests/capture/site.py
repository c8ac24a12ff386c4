"""A local test site for captures, served on a loopback address only.

Covers what a capture must record: a redirect, HTML, CSS with a background
image, <img>, <script>, fetch() of JSON, gzip-encoded and chunked responses, a
404, a lazily loaded image below the fold, the same image under two URLs
(revisit), a declared favicon, pages embedding images from elsewhere (``/embed``,
one ``src`` per image), and helpers for limit tests.

The server keeps the exact body bytes it wrote for every request (``served``,
keyed by path and query) so tests can compare them with the WARC payloads, and
``/meet`` lets concurrency tests prove that captures really overlapped.
"""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.support.samples import png_bytes

INDEX = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Custos test page</title>
<meta name="description" content="A page for capture tests">
<link rel="icon" href="/icon.png" type="image/png">
<link rel="stylesheet" href="/style.css">
<script src="/app.js"></script>
</head><body>
<h1>Hello capture</h1>
<img src="/img.png" alt="img"> <img src="/img-copy.png" alt="copy">
<ul id="out"></ul>
<p><a href="/simple.html">simple</a> <a href="/missing#frag">missing</a>
<a href="mailto:nobody@example.invalid">mail</a> <a href="/simple.html">again</a></p>
<div style="height:6000px">tall</div>
<img loading="lazy" src="/lazy.png" alt="lazy">
</body></html>
"""

APP_JS = b"""
async function show(path) {
  const r = await fetch(path);
  const li = document.createElement('li');
  li.textContent = path + ' ' + r.status + ' ' + (await r.text()).slice(0, 40);
  document.getElementById('out').appendChild(li);
}
window.addEventListener('DOMContentLoaded', () => {
  show('/data.json'); show('/gzip.txt'); show('/chunked.txt'); show('/missing');
});
"""

GZIP_TEXT = b"gzip body " * 50
CHUNKS = [b"chunk one, ", b"chunk two, ", b"chunk three"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SiteServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self._body(body)

    def _body(self, data: bytes) -> None:
        """Write body bytes and remember them exactly as sent."""
        self.wfile.write(data)
        with self.server.lock:
            sent = self.server.sending.setdefault(id(self), b"")
            self.server.sending[id(self)] = sent + data

    def handle_one_request(self) -> None:
        super().handle_one_request()
        with self.server.lock:
            sent = self.server.sending.pop(id(self), None)
            if sent is not None and getattr(self, "path", None):
                self.server.served[self.path] = sent

    def _meet(self, group: str) -> None:
        """Hold the response until ``MEET_SIZE`` requests of ``group`` are in flight (bounded).

        Captures that really run at the same time meet here at once; captures that
        run one after the other each wait out ``MEET_WAIT`` alone, and the peak
        count stays at one.
        """
        server = self.server
        with server.meeting:
            server.in_flight[group] = server.in_flight.get(group, 0) + 1
            server.peak[group] = max(server.peak.get(group, 0), server.in_flight[group])
            server.meeting.notify_all()
            server.meeting.wait_for(
                lambda: server.in_flight[group] >= server.MEET_SIZE, timeout=server.MEET_WAIT
            )
        time.sleep(0.2)  # let a third capture show up if the pool failed to bound them
        with server.meeting:
            server.in_flight[group] -= 1

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self.server.hits.append(path)
        if path == "/old":
            self._send(302, b"", "text/plain", {"Location": "/index.html"})
        elif path == "/index.html":
            self._send(200, INDEX, "text/html; charset=utf-8")
        elif path == "/style.css":
            self._send(200, b"body { background-image: url(/bg.png); }", "text/css")
        elif path == "/app.js":
            self._send(200, APP_JS, "application/javascript")
        elif path in ("/img.png", "/img-copy.png"):
            self._send(200, png_bytes((200, 30, 30)), "image/png")
        elif path == "/bg.png":
            self._send(200, png_bytes((30, 200, 30)), "image/png")
        elif path == "/lazy.png":
            self._send(200, png_bytes((30, 30, 200)), "image/png")
        elif path == "/icon.png":
            self._send(200, png_bytes((250, 200, 0), (32, 32)), "image/png")
        elif path == "/data.json":
            self._send(200, b'{"hello": "json"}', "application/json")
        elif path == "/gzip.txt":
            self._send(200, gzip.compress(GZIP_TEXT), "text/plain", {"Content-Encoding": "gzip"})
        elif path == "/chunked.txt":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in CHUNKS:
                self._body(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self._body(b"0\r\n\r\n")
        elif path == "/go":
            target = parse_qs(parts.query)["to"][0]
            self._send(302, b"", "text/plain", {"Location": target})
        elif path == "/simple.html":
            self._send(
                200, b"<html><head><title>simple</title></head><body>hi</body></html>", "text/html"
            )
        elif path == "/embed":
            images = "".join(
                f'<img src="{src.replace(chr(34), "")}">' for src in parse_qs(parts.query)["src"]
            )
            self._send(200, f"<html><body>{images}</body></html>".encode(), "text/html")
        elif path == "/webrtc":
            self._send(200, webrtc_html(parse_qs(parts.query)["stun"]), "text/html")
        elif path == "/big.html":
            self._send(200, b"<html><body><img src='/big.bin'></body></html>", "text/html")
        elif path == "/big.bin":
            self._send(200, b"x" * 300_000, "application/octet-stream")
        elif path == "/hang.html":
            self._send(200, b"<html><body>slow<img src='/hang'></body></html>", "text/html")
        elif path == "/page":
            number = parse_qs(parts.query)["n"][0]
            self._send(200, page_html(number), "text/html; charset=utf-8")
        elif path == "/own.png":
            shade = int(parse_qs(parts.query)["n"][0]) % 256
            self._send(200, png_bytes((shade, 99, 7)), "image/png")
        elif path == "/meet.html":
            query = parse_qs(parts.query)
            group, number = query["g"][0], query["n"][0]
            self._send(
                200,
                (
                    f"<html><head><title>meet {number}</title></head><body>"
                    f"<img src='/meet.png?g={group}&n={number}'></body></html>"
                ).encode(),
                "text/html",
            )
        elif path == "/meet.png":
            query = parse_qs(parts.query)
            self._meet(query["g"][0])
            self._send(200, png_bytes((int(query["n"][0]) % 256, 1, 2)), "image/png")
        elif path == "/hang":
            time.sleep(float(parse_qs(parts.query).get("s", ["8"])[0]))
            self._send(200, png_bytes((1, 1, 1)), "image/png")
        else:
            self._send(404, b"not found", "text/plain")


def webrtc_html(stun: list[str]) -> bytes:
    """A page that gathers ICE candidates against the STUN servers ``stun`` (host:port).

    Each candidate, then ``done`` when gathering ends, is written into ``#out``.
    """
    servers = ", ".join(f"{{urls: 'stun:{s.replace(chr(39), '')}'}}" for s in stun)
    return f"""<!DOCTYPE html><html><head><title>webrtc</title></head><body>
<pre id="out"></pre><script>
const out = document.getElementById('out');
const pc = new RTCPeerConnection({{iceServers: [{servers}]}});
pc.createDataChannel('probe');
pc.onicecandidate = (e) => {{
  out.textContent += (e.candidate ? e.candidate.candidate : 'done') + '\\n'; }};
pc.createOffer().then((offer) => pc.setLocalDescription(offer));
</script></body></html>
""".encode()


def page_html(number: str) -> bytes:
    """One of many distinct pages (benchmarks, concurrency): own title, image and data."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Page {number}</title>
<link rel="icon" href="/icon.png"><link rel="stylesheet" href="/style.css">
</head><body><h1>Page {number}</h1>
<img src="/own.png?n={number}" alt="own"> <img src="/img.png" alt="shared">
<p id="data"></p><a href="/page?n={int(number) + 1}">next</a>
<script>fetch('/data.json').then(r => r.text()).then(t => {{
  document.getElementById('data').textContent = t; }});</script>
</body></html>
""".encode()


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    MEET_SIZE: ClassVar[int] = 2
    MEET_WAIT: ClassVar[float] = 4.0

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), Handler)
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.sending: dict[int, bytes] = {}
        #: Body bytes as written on the wire (chunk framing, gzip) per path+query.
        self.served: dict[str, bytes] = {}
        self.meeting = threading.Condition()
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet: the proxy drops origin connections on purpose (limits, timeouts)."""

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SiteServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
