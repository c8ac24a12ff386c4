"""Web capture engine: Chromium through a recording, SSRF-guarded proxy into WARC/WACZ.

No database and no Prefect here; ``flows/capture.py`` wires it in. Public entry
points: ``capture``, ``CaptureOptions``, ``CaptureResult`` (``engine``) and
``BrowserPool`` (``browser``).
"""

from .browser import BrowserPool
from .engine import CaptureOptions, CaptureResult, capture

__all__ = ["BrowserPool", "CaptureOptions", "CaptureResult", "capture"]
