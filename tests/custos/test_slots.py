"""Machine-wide slots (``custos.slots``): at most N holders across processes, and a
killed holder frees its slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from custos.slots import machine_slot, slot_dir

HOLD = """
import sys, time
from pathlib import Path
from custos.slots import machine_slot
with machine_slot(Path(sys.argv[1]), "clamav", 2):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(run_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_slots_bound_holders_across_processes_and_die_with_them(tmp_path: Path) -> None:
    holders = [_holder(tmp_path), _holder(tmp_path)]
    try:
        with pytest.raises(TimeoutError, match="no free clamav slot of 2"):
            with machine_slot(tmp_path, "clamav", 2, timeout=0.5):
                pass
        os.kill(holders[0].pid, signal.SIGKILL)  # a flow run killed mid-scan
        holders[0].wait()
        started = time.monotonic()
        with machine_slot(tmp_path, "clamav", 2, timeout=5):
            assert time.monotonic() - started < 5
        with machine_slot(tmp_path, "other", 1, timeout=0.5):  # names are separate
            pass
    finally:
        for proc in holders:
            proc.kill()
            proc.wait()
    assert slot_dir(tmp_path, "clamav").is_dir()
    assert sorted(p.name for p in slot_dir(tmp_path, "clamav").iterdir()) == ["0.lock", "1.lock"]
