"""Benchmark: capture 20 pages of the local test site at concurrency 1 and 2.

Each page (``/page?n=N`` of the test site) has its own title and image, a shared
image, a stylesheet with a background image, a declared favicon and a script
that fetches JSON; every capture makes a WARC with screenshot, DOM snapshot,
favicon and provenance summary, with the default limits. One warm browser pool
serves each run; captures are submitted from as many threads as the
concurrency, and the pool's context bound is the same number.

Prints one JSON line: per concurrency pages per minute, p50/p95 seconds per
capture, total and mean WARC bytes; beside them the HAR-recording baseline
measured for the capture recipes (whole script: Playwright start, launch, load
with networkidle, full-page screenshot, close: median 3.01 s per page, i.e.
about 20 pages per minute one at a time) and the target of 20 pages per minute
at concurrency 2.

Run: ``.venv/bin/python bench/capture.py [pages]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PAGES = 20
CONCURRENCIES = (1, 2)
HAR_BASELINE_MEDIAN_S = 3.01
TARGET_PAGES_PER_MIN = 20.0


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the value at or below which ``fraction`` of runs fall."""
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 100) * len(ordered) // 100))
    return ordered[rank - 1]


def run(pages: int, concurrency: int, chromium: str | None, base: str, out: Path) -> dict[str, Any]:
    """Capture ``pages`` distinct pages with ``concurrency`` threads on one warm pool."""
    from tasks.capture import BrowserPool, CaptureOptions, CaptureResult, capture

    options = CaptureOptions(allow_loopback=True)
    with BrowserPool(chromium, max_contexts=concurrency) as pool:
        capture(f"{base}/page?n=0", out / "warmup", options, pool=pool)

        def one(number: int) -> tuple[float, CaptureResult]:
            started = time.perf_counter()
            result = capture(f"{base}/page?n={number}", out / str(number), options, pool=pool)
            return time.perf_counter() - started, result

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as workers:
            done = list(workers.map(one, range(1, pages + 1)))
        wall = time.perf_counter() - started
    times = [seconds for seconds, _ in done]
    results = [result for _, result in done]
    failed = [r.url for r in results if r.error or r.limit_hit or r.status != 200]
    warc_bytes = sum(r.warc_path.stat().st_size for r in results if r.warc_path)
    return {
        "concurrency": concurrency,
        "pages": pages,
        "failed": len(failed),
        "wall_s": round(wall, 2),
        "pages_per_min": round(pages / wall * 60, 1),
        "p50_s": round(statistics.median(times), 3),
        "p95_s": round(percentile(times, 0.95), 3),
        "warc_bytes_total": warc_bytes,
        "warc_bytes_mean": warc_bytes // pages,
        "resources_per_page": round(statistics.mean(r.resources for r in results), 1),
    }


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from custos.settings import load_settings
    from tests.capture.site import SiteServer

    pages = int(sys.argv[1]) if len(sys.argv) > 1 else PAGES
    chromium = load_settings().chromium_executable()
    site = SiteServer("127.0.0.1").start()
    try:
        with tempfile.TemporaryDirectory(prefix="custos-bench-capture-") as tmp:
            runs = [run(pages, n, chromium, site.base, Path(tmp) / f"c{n}") for n in CONCURRENCIES]
    finally:
        site.stop()
    at_two = next(r for r in runs if r["concurrency"] == 2)
    print(
        json.dumps(
            {
                "bench": "capture",
                "runs": runs,
                "har_baseline_median_s_per_page": HAR_BASELINE_MEDIAN_S,
                "har_baseline_pages_per_min": round(60 / HAR_BASELINE_MEDIAN_S, 1),
                "target_pages_per_min_at_2": TARGET_PAGES_PER_MIN,
                "target_met": at_two["pages_per_min"] >= TARGET_PAGES_PER_MIN
                and not at_two["failed"],
            }
        )
    )


if __name__ == "__main__":
    main()
