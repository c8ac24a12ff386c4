"""What the capture does to the page before the snapshot, and what it reads from it.

Perma/Scoop order: load, wait for the network to go idle (bounded), scroll to
the bottom so lazy images and infinite lists load, then let the network settle
again. Every step has its own bound so a page that never goes idle still gets
captured in time.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

SCROLL_JS = """
async (maxMs) => {
  const start = Date.now();
  let lastHeight = -1;
  while (Date.now() - start < maxMs) {
    window.scrollBy(0, Math.max(window.innerHeight, 200));
    await new Promise((resolve) => setTimeout(resolve, 120));
    const height = document.documentElement.scrollHeight;
    const atBottom = window.scrollY + window.innerHeight >= height - 2;
    if (atBottom && height === lastHeight) break;
    lastHeight = height;
  }
  window.scrollTo(0, 0);
}
"""

PAGE_INFO_JS = """
() => {
  const meta = document.querySelector(
    'meta[name="description" i], meta[property="og:description" i]');
  const icon = document.querySelector(
    'link[rel~="icon" i], link[rel="shortcut icon" i], link[rel="apple-touch-icon" i]');
  return {
    title: document.title || '',
    description: meta ? (meta.getAttribute('content') || '') : '',
    favicon: icon && icon.href ? icon.href : new URL('/favicon.ico', location.href).href,
  };
}
"""

OUTLINKS_JS = """
(limit) => {
  const seen = new Set();
  for (const a of document.querySelectorAll('a[href], area[href]')) {
    let href;
    try { href = new URL(a.getAttribute('href'), document.baseURI); } catch (e) { continue; }
    if (href.protocol !== 'http:' && href.protocol !== 'https:') continue;
    href.hash = '';
    seen.add(href.href);
    if (seen.size >= limit) break;
  }
  return Array.from(seen);
}
"""

#: A page with a million links must not make the metadata record unbounded.
MAX_OUTLINKS = 5000


@dataclass(frozen=True)
class PageInfo:
    """Title, meta description and favicon URL as the page shows them after scripts ran."""

    title: str
    description: str
    favicon_url: str


async def wait_network_idle(page: Page, seconds: float) -> bool:
    """Wait up to ``seconds`` for 500 ms without network traffic; True if it came."""
    try:
        await page.wait_for_load_state("networkidle", timeout=seconds * 1000)
    except PlaywrightError:
        return False
    return True


async def scroll_to_bottom(page: Page, seconds: float) -> None:
    """Scroll down a screen at a time until the page stops growing (bounded)."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        async with asyncio.timeout(seconds + 2):
            await page.evaluate(SCROLL_JS, seconds * 1000)


async def read_page_info(page: Page) -> PageInfo:
    """Title, description and favicon URL (``/favicon.ico`` when none is declared)."""
    info = await page.evaluate(PAGE_INFO_JS)
    return PageInfo(
        str(info["title"]).strip(), str(info["description"]).strip(), str(info["favicon"])
    )


async def read_outlinks(page: Page, limit: int = MAX_OUTLINKS) -> list[str]:
    """The page's http(s) links as rendered (after scripts), deduplicated, fragments dropped."""
    links = await page.evaluate(OUTLINKS_JS, limit)
    return [str(link) for link in links]
