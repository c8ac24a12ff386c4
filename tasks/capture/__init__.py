"""Web capture engine: Chromium through a recording, SSRF-guarded proxy into WARC/WACZ.

The engine has no database and no Prefect. Public entry points: ``capture``,
``CaptureOptions``, ``CaptureResult`` (``engine``) and ``BrowserPool``
(``browser``). The capture flow's own task modules sit beside it: ``load`` (the
*Load page* step, retried by Prefect) and ``preserve`` (a finished capture laid
out as a transfer).
"""

from .browser import BrowserPool
from .engine import CaptureOptions, CaptureResult, capture

__all__ = ["BrowserPool", "CaptureOptions", "CaptureResult", "capture"]
