"""``InlineBackend.wait_all``: joins flows started meanwhile, under one deadline."""

from __future__ import annotations

import threading
import time

from custos.dispatch import InlineBackend


def test_wait_all_joins_threads_started_meanwhile_and_reports_a_timeout() -> None:
    backend = InlineBackend()
    release = threading.Event()

    def second() -> None:
        release.wait(5)

    def first() -> None:  # a transfer flow that submits its ingest, then ends
        time.sleep(0.1)
        child = threading.Thread(target=second, daemon=True)
        backend.threads["second"] = child
        child.start()

    backend.threads["first"] = threading.Thread(target=first, daemon=True)
    backend.threads["first"].start()
    started = time.monotonic()
    assert backend.wait_all(0.5) is False  # the second thread still runs
    assert 0.4 < time.monotonic() - started < 2
    release.set()
    assert backend.wait_all(5) is True
    assert not any(t.is_alive() for t in backend.threads.values())
