"""The browser is shared across captures and never leaked."""

from __future__ import annotations

import os
import time
from pathlib import Path

from custos.settings import load_settings
from tasks.capture import BrowserPool, CaptureOptions, capture

from .site import SiteServer


def chromium_descendants() -> int:
    """Chromium processes descended from this test process (others' browsers ignored)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        names[int(entry.name)] = cmdline.split(b"\0", 1)[0].decode(errors="replace")
    me = os.getpid()
    count = 0
    for pid, name in names.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me and "chrom" in name:
            count += 1
    return count


def settled_count(expected: int, seconds: float = 10.0) -> int:
    """Chromium reaps renderer processes asynchronously after a context closes."""
    deadline = time.monotonic() + seconds
    count = chromium_descendants()
    while count > expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = chromium_descendants()
    return count


def test_twenty_captures_leave_no_extra_process(
    pool: BrowserPool, site: SiteServer, tmp_path: Path
) -> None:
    options = CaptureOptions(
        allow_loopback=True, network_idle_timeout=1, settle_timeout=0.5, scroll_timeout=1
    )
    capture(site.base + "/simple.html", tmp_path / "warm", options, pool=pool)
    before = settled_count(0, seconds=2)
    assert before > 0
    for number in range(20):
        result = capture(site.base + "/simple.html", tmp_path / str(number), options, pool=pool)
        assert result.title == "simple" and result.status == 200
    assert settled_count(before) <= before


def test_closing_the_pool_ends_its_browser(site: SiteServer, tmp_path: Path) -> None:
    before = chromium_descendants()
    with BrowserPool(load_settings().chromium_executable()) as own:
        result = capture(
            site.base + "/simple.html",
            tmp_path,
            CaptureOptions(allow_loopback=True, network_idle_timeout=1),
            pool=own,
        )
        assert result.status == 200
        assert chromium_descendants() > before
    assert own.closed
    assert settled_count(before) <= before
