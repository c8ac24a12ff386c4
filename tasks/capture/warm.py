"""One warm browser for many captures of a flow run (``flows.capture_batch``).

A capture started on its own starts Chromium for itself and closes it afterwards
(about a second of CPU, more on a loaded machine). The captures of a batch share
one ``BrowserPool`` instead, with ``capture_concurrency`` contexts::

    with warm_browser():             # in the batch's flow run
        ...                          # its captures' *Load page* steps, any thread
        pool = current_pool()        # the warm pool (None outside warm_browser)

The pool is found through a context variable, so the worker threads that run the
batch's captures see it when they run in a copy of the batch's context
(``contextvars.copy_context``). A Chromium that died is replaced by a new pool
on the next ``current_pool()``, and the dead pool is closed then: a capture that
was still waiting on it (a dead browser does not answer every pending call) is
cancelled, which the engine reports as a crash, so it is tried again on the new
browser like the capture whose page load saw the browser die.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator

from custos.settings import get_settings

from .browser import BrowserPool

log = logging.getLogger(__name__)


class WarmBrowser:
    """A browser pool kept for many captures; replaced when its browser died."""

    def __init__(self, start: Callable[[], BrowserPool]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._pools: list[BrowserPool] = []

    def pool(self) -> BrowserPool:
        """The live pool (started on first use, or again after Chromium died)."""
        with self._lock:
            if not self._pools or not self._pools[-1].connected:
                if self._pools:
                    log.warning("the batch's browser died: starting a new one")
                    self._pools[-1].close()  # what still waits on it ends as a crash
                self._pools.append(self._start())
            return self._pools[-1]

    def close(self) -> None:
        with self._lock:
            for pool in self._pools:
                pool.close()
            self._pools.clear()


_current: contextvars.ContextVar[WarmBrowser | None] = contextvars.ContextVar(
    "custos_warm_browser", default=None
)


@contextlib.contextmanager
def warm_browser(start: Callable[[], BrowserPool] | None = None) -> Iterator[WarmBrowser]:
    """Share one browser pool (``BrowserPool.from_settings`` unless ``start`` is given)
    among the captures run in this context until the block ends."""
    warm = WarmBrowser(start or (lambda: BrowserPool.from_settings(get_settings())))
    token = _current.set(warm)
    try:
        yield warm
    finally:
        _current.reset(token)
        warm.close()


def current_pool() -> BrowserPool | None:
    """The warm pool of the batch this capture runs in; None for a capture on its own."""
    warm = _current.get()
    return warm.pool() if warm is not None else None
