"""Benchmark: a transfer of 10,000 files of 4 KiB, automated config, end to end.

Prints one JSON line: total and per-microservice seconds, the floor (reading and
sha256-hashing the same bytes once plus copying them once; median of 3 runs, each
printed) and the ratio.
Target: within 20x the floor and under 60 s.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_common import floors, fresh_home, run

FILES, SIZE = 10_000, 4096


def main() -> None:
    home = fresh_home()
    src = home / "source"
    for i in range(FILES):
        d = src / f"d{i // 500:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(os.urandom(SIZE // 2).hex().encode())
    base, runs = floors(src, home / "floor-copy")
    result = run(src, "small-files")
    result.update(
        {
            "workload": f"{FILES} x {SIZE} B",
            "floor_s": round(base, 3),
            "floor_runs_s": runs,
            "ratio_to_floor": round(result["total_s"] / base, 1),
            "target": "<= 20x floor and < 60 s",
        }
    )
    print(json.dumps(result))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
