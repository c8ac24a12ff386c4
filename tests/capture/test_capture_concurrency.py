"""Captures sharing one pool run at the same time, up to its bound, into separate WARCs.

The site's ``/meet.png`` holds each response until two captures' requests are
in flight at once (or a few seconds pass) and records the peak, so "they ran
concurrently" is measured at the origin, not inferred from wall time.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from custos.settings import load_settings
from tasks.capture import BrowserPool, CaptureOptions, CaptureResult, capture
from tests.support.samples import png_bytes

from .site import SiteServer
from .test_capture_engine import warcio_check

OPTIONS = CaptureOptions(
    allow_loopback=True, network_idle_timeout=2, settle_timeout=0.5, scroll_timeout=1
)


def responses(path: Path) -> dict[str, bytes]:
    """Response payloads (as stored) by target URI."""
    found = {}
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                uri = str(record.rec_headers.get_header("WARC-Target-URI"))
                found[uri] = record.raw_stream.read()
    return found


def run_captures(
    pool: BrowserPool, site: SiteServer, out: Path, count: int, threads: int
) -> tuple[str, list[CaptureResult]]:
    group = uuid.uuid4().hex[:8]

    def one(number: int) -> CaptureResult:
        url = f"{site.base}/meet.html?g={group}&n={number}"
        return capture(url, out / str(number), OPTIONS, pool=pool)

    with ThreadPoolExecutor(threads) as workers:
        return group, list(workers.map(one, range(count)))


def test_four_captures_on_two_threads_overlap_and_stay_separate(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    assert pool.max_contexts == 2
    group, results = run_captures(pool, site, tmp_path, count=4, threads=2)
    assert site.peak[group] == 2, "the captures never had requests in flight together"
    paths = {result.warc_path for result in results}
    assert len(paths) == 4
    for number, result in enumerate(results):
        assert result.error is None and result.limit_hit is None
        assert result.warc_path is not None
        assert result.status == 200 and result.title == f"meet {number}"
        checked = warcio_check(result.warc_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        recorded = responses(result.warc_path)
        page = f"{site.base}/meet.html?g={group}&n={number}"
        image = f"{site.base}/meet.png?g={group}&n={number}"
        assert image in recorded and page in recorded
        assert recorded[image] == png_bytes((number % 256, 1, 2))
        # Nothing from a capture that ran beside this one leaked in.
        mine = {page, image, f"{site.base}/favicon.ico"}
        assert set(recorded) == mine, set(recorded) - mine


def test_pool_never_opens_more_contexts_than_its_bound(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    """Four threads, two slots: two captures wait, the peak stays at two."""
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(pool.active_contexts)
            done.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        group, results = run_captures(pool, site, tmp_path, count=4, threads=4)
    finally:
        done.set()
        watcher.join()
    assert max(seen) == 2 and pool.active_contexts == 0
    assert site.peak[group] == 2
    assert [r.title for r in results] == [f"meet {n}" for n in range(4)]


def test_default_bound_is_the_capture_concurrency_setting() -> None:
    settings = load_settings(capture_concurrency=3)
    with BrowserPool.from_settings(settings) as own:
        assert own.max_contexts == 3
