"""Benchmark: 10 captures of the local test page with one shared browser.

Prints one JSON line: captures per second and seconds per capture (warm pool),
the cost of one cold capture (driver start + browser launch + capture + close),
and the HAR-recording baseline measured for the capture recipes (whole script:
Playwright start, launch, load with networkidle, full-page screenshot, close:
median 3.01 s, min 2.54 s; plus 0.3-0.55 s HAR-to-WARC conversion).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

N = 10
HAR_BASELINE_MEDIAN_S = 3.01
HAR_BASELINE_MIN_S = 2.54


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from custos.settings import load_settings
    from tasks.capture import BrowserPool, CaptureOptions, capture
    from tests.capture.site import SiteServer

    chromium = load_settings().chromium_executable()
    site = SiteServer("127.0.0.1").start()
    out = Path(tempfile.mkdtemp(prefix="custos-bench-capture-"))
    options = CaptureOptions(allow_loopback=True)
    url = site.base + "/old"
    try:
        started = time.perf_counter()
        with BrowserPool(chromium) as cold_pool:
            capture(url, out / "cold", options, pool=cold_pool)
        cold = time.perf_counter() - started

        with BrowserPool(chromium) as pool:
            capture(url, out / "warmup", options, pool=pool)
            times = []
            resources = 0
            for number in range(N):
                t0 = time.perf_counter()
                result = capture(url, out / str(number), options, pool=pool)
                times.append(time.perf_counter() - t0)
                resources = result.resources
    finally:
        site.stop()
    total = sum(times)
    print(json.dumps({
        "bench": "capture",
        "captures": N,
        "resources_per_capture": resources,
        "captures_per_s": round(N / total, 3),
        "s_per_capture_mean": round(total / N, 3),
        "s_per_capture_median": round(statistics.median(times), 3),
        "s_per_capture_max": round(max(times), 3),
        "cold_capture_s": round(cold, 3),
        "har_baseline_median_s": HAR_BASELINE_MEDIAN_S,
        "har_baseline_min_s": HAR_BASELINE_MIN_S,
        "speedup_vs_har_median": round(HAR_BASELINE_MEDIAN_S / (total / N), 2),
    }))


if __name__ == "__main__":
    main()
