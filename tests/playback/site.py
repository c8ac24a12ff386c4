"""Pages for playback tests, served on 127.0.0.1 for the session.

- ``/dynamic.html``: after load its script fetches ``/data.json`` and writes its
  word into ``#data``; 300 ms later it inserts ``/late.png``.
- ``/hostile.html?console=<origin>``: its script tries to read ``document.cookie``,
  call the console's API with the viewer's credentials, writes what it got into
  ``#report`` and the console log (``HOSTILE-REPORT <json>``), then tries to navigate
  the top window.
- ``/slow.html``: a page answered after ``SLOW_SECONDS`` (a capture stays in progress
  meanwhile).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.support.samples import png_bytes

#: A word that appears only in the data the page fetches after load.
FETCHED_WORD = "quetzalcoatlus"
#: How long ``/slow.html`` takes to answer.
SLOW_SECONDS = 8.0
#: A word that appears only in the page's visible text (search tests).
PAGE_WORD = "bathyscaphe"

DYNAMIC = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Dynamic page</title></head><body>
<h1>Dynamic page</h1><p>The {PAGE_WORD} went down.</p>
<p id="data">waiting</p><div id="late"></div>
<script>
window.addEventListener('load', () => {{
  fetch('/data.json').then(r => r.json()).then(d => {{
    document.getElementById('data').textContent = 'fetched: ' + d.word; }});
  setTimeout(() => {{
    const img = document.createElement('img');
    img.id = 'late-img'; img.alt = 'late'; img.src = '/late.png';
    document.getElementById('late').appendChild(img);
  }}, 300);
}});
</script></body></html>
""".encode()

HOSTILE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Hostile page</title></head><body>
<h1>Hostile page</h1><pre id="report">running</pre>
<script>
const consoleOrigin = new URLSearchParams(location.search).get('console') || '';
const report = {cookie: document.cookie, calls: {}, top: 'not tried'};
async function call(url) {
  try {
    const r = await fetch(url, {credentials: 'include'});
    const body = await r.text();
    return r.status + ' ' + body.slice(0, 200);
  } catch (e) { return 'error ' + e; }
}
window.addEventListener('load', async () => {
  for (const path of ['/custos/units', '/api/transfer/completed']) {
    report.calls[path] = await call(path);
    report.calls[consoleOrigin + path] = await call(consoleOrigin + path);
  }
  report.cookie = document.cookie;
  document.getElementById('report').textContent = JSON.stringify(report);
  console.log('HOSTILE-REPORT ' + JSON.stringify(report));
  try { window.top.location = consoleOrigin + '/hijacked'; console.log('HOSTILE-TOP assigned'); }
  catch (e) { console.log('HOSTILE-TOP refused ' + e.name); }
});
</script></body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/dynamic.html":
            self._send(DYNAMIC, "text/html; charset=utf-8")
        elif path == "/slow.html":
            time.sleep(SLOW_SECONDS)
            self._send(b"<!DOCTYPE html><title>Slow</title><p>Slow page, at last.</p>", "text/html")
        elif path == "/hostile.html":
            self._send(HOSTILE, "text/html; charset=utf-8")
        elif path == "/data.json":
            self._send(f'{{"word": "{FETCHED_WORD}"}}'.encode(), "application/json")
        elif path == "/late.png":
            self._send(png_bytes((20, 120, 220), (64, 48)), "image/png")
        else:
            self._send(b"not found", "text/plain", 404)


class PlaybackSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> PlaybackSite:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
