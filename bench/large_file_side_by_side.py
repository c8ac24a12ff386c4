"""Benchmark: one large file (sample C, 500 MiB) to a stored AIP, beside its floor and a3m.

Custos runs the transfer and its ingest in this process (the *automated*
configuration with 7z "copy" packaging, a3m's default, no Prefect engine: the
flow's steps as plain functions), once with the virus scan and once with it
turned off by the configuration (the work a3m does). In the same run it measures:

* **clamscan alone** on the same file, with the signatures Custos uses and limits
  large enough to scan every byte (``--max-filesize``/``--max-scansize``);
* **read, hash and copy once**: sha256 of every byte, then one copy;
* **a3m** on the same file (its "lean" settings: no normalization, transcription,
  policy checks or package extraction), when its command is found: ``--a3m PATH``,
  else ``$A3M``, else ``$PEERS_DIR/a3m-venv/bin/a3m``. Without it, or when it fails
  (it needs ``7z``, ``atool`` and ``tree`` on the PATH), the a3m figures are null and
  ``a3m_note`` says why.

The floor is the larger of the first two; the target is Custos within 1.25x of it
with the scan, and at least 1.5x faster than a3m without it. Every figure is a
median of ``--runs`` (all runs printed). Per run: the transfer's seconds per
microservice, the ingest's seconds per job, CPU seconds (user+sys of this process
and its children, clamd, 7-Zip and the other tools included) and the resident set
of the largest single process (sampled every 0.1 s; target under 500 MiB).

The sample is ``--sample FILE``, else ``$PEERS_DIR/samples/C/`` when present (one
file), else 500 MiB of fresh random bytes written here.

    python bench/large_file_side_by_side.py [--runs 3] [--sample FILE] [--a3m PATH] [--no-a3m]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from transfer_common import fresh_home

SIZE = 500 * 1024 * 1024
PACKAGING = "7z-copy"
CONFIGS = {"scan": "bench_c_scan", "noscan": "bench_c_noscan"}
TARGET = "<= 1.25x max(clamscan alone, read+hash+copy once); scan off: >= 1.5x faster than a3m"
A3M_LEAN = (
    "normalize=no",
    "transcribe_files=no",
    "perform_policy_checks_on_originals=no",
    "perform_policy_checks_on_preservation_derivatives=no",
    "extract_packages=no",
)


def peers_dir() -> Path:
    return Path(os.environ.get("PEERS_DIR") or Path.home() / ".cache" / "custos-peers")


def find_sample(arg: str | None, home: Path) -> tuple[Path, str]:
    """The sample file and where it came from (written here when none is given)."""
    if arg:
        path = Path(arg)
        if not path.is_file():
            sys.exit(f"--sample {arg}: not a file")
        return path, "given"
    shared = peers_dir() / "samples" / "C"
    files = sorted(p for p in shared.iterdir() if p.is_file()) if shared.is_dir() else []
    if len(files) == 1:
        return files[0], "peers sample C"
    target = home / "sample" / "C.bin"
    target.parent.mkdir(parents=True)
    with open(target, "wb") as fh:
        for _ in range(SIZE // (1024 * 1024)):
            fh.write(os.urandom(1024 * 1024))
    return target, "fresh random bytes"


def find_a3m(arg: str | None) -> tuple[str | None, str]:
    """The a3m command, or None and why not."""
    candidate = arg or os.environ.get("A3M") or str(peers_dir() / "a3m-venv" / "bin" / "a3m")
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate, ""
    found = shutil.which(candidate)
    if found:
        return found, ""
    return None, (
        f"a3m not found at {candidate}: install a3m 0.8.1 (pass --a3m PATH or set A3M "
        "or PEERS_DIR), or run with --no-a3m"
    )


class PeakRss:
    """The largest resident set of any single process in this process's tree."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root or os.getpid()
        self.peak_kb = 0
        self.peak_name = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    text = fh.read()
                ppid = int(text[text.rfind(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
        seen, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(children.get(pid, []))
        return seen

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as fh:
                        fields = dict(line.split(":", 1) for line in fh if ":" in line)
                except OSError:
                    continue
                rss = int(fields.get("VmRSS", "0 kB").split()[0])
                if rss > self.peak_kb:
                    self.peak_kb, self.peak_name = rss, fields.get("Name", "").strip()


def cpu_seconds() -> float:
    """user+sys of this process and its waited-for children so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn: Callable[[], dict[str, Any]], root: int | None = None) -> dict[str, Any]:
    """Run ``fn`` and add wall and CPU seconds, load averages and the largest process."""
    load_before = os.getloadavg()
    cpu = cpu_seconds()
    started = time.perf_counter()
    with PeakRss(root) as rss:
        result = fn()
    result.update(
        {
            "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s": round(cpu_seconds() - cpu, 2),
            "largest_process_mib": round(rss.peak_kb / 1024, 1),
            "largest_process": rss.peak_name,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
    )
    return result


def copy_floor(sample: Path, scratch: Path) -> dict[str, Any]:
    """Read and sha256 every byte once, then copy the file once."""
    with open(sample, "rb") as fh:
        hashlib.file_digest(fh, "sha256")
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, scratch / sample.name)
    shutil.rmtree(scratch)
    return {}


def clamscan_alone(sample: Path) -> dict[str, Any]:
    """clamscan with Custos' signatures, every byte of the file scanned."""
    from custos.settings import get_settings
    from tasks.tools.clamav import usable_database

    database = usable_database(get_settings()).directory
    proc = subprocess.run(
        [
            "clamscan",
            "--no-summary",
            f"--database={database}",
            "--max-filesize=2000M",
            "--max-scansize=4000M",
            str(sample),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=False,
    )
    return {"clamscan_rc": proc.returncode, "clamscan_out": proc.stdout.strip()[-200:]}


def a3m_run(a3m: str, sample: Path, scratch: Path, index: int) -> dict[str, Any]:
    """a3m with its lean settings on the sample's folder, in a throw-away home."""
    home = scratch / f"a3m-home-{index}"
    home.mkdir(parents=True)
    flags = [x for value in A3M_LEAN for x in ("-p", value)]
    env = os.environ | {"HOME": str(home)}
    env["PATH"] = f"{Path(a3m).parent}:{env.get('PATH', '')}"
    proc = subprocess.run(
        [a3m, f"--name=C-lean-{index}", "--no-input", *flags, f"file://{sample.parent}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:  # e.g. 7z, atool or tree missing: its figure means nothing
        return {"a3m_rc": proc.returncode, "a3m_error": (proc.stdout + proc.stderr)[-300:]}
    return {"a3m_rc": proc.returncode}


def custos_run(source: Path, config: str, index: int) -> dict[str, Any]:
    """Transfer ``source`` and ingest it to a stored AIP (see ``aip_end_to_end``)."""
    from aip_end_to_end import run_one

    from custos.settings import get_settings

    home = get_settings().home
    result = run_one(source, f"c-{config}-{index}", config)
    for folder in ("processing", "aip-store"):  # keep the disk free for the next run
        shutil.rmtree(home / "locations" / folder, ignore_errors=True)
        (home / "locations" / folder).mkdir(parents=True, exist_ok=True)
    return result


def median_of(runs: list[dict[str, Any]], key: str = "wall_s") -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--sample", help="the large file (default: sample C, else fresh bytes)")
    parser.add_argument("--a3m", help="the a3m command (default: $A3M, $PEERS_DIR/a3m-venv)")
    parser.add_argument("--no-a3m", action="store_true", help="do not run a3m")
    args = parser.parse_args()
    home = fresh_home()
    from custos import processing

    automated = processing.load_named("automated")
    processing.save(
        CONFIGS["scan"], automated.model_copy(update={"compression_algorithm": PACKAGING})
    )
    processing.save(
        CONFIGS["noscan"],
        automated.model_copy(update={"compression_algorithm": PACKAGING, "virus_scanning": False}),
    )
    # Imported once here, not inside the first run's time.
    import flows.ingest
    import flows.transfer  # noqa: F401

    sample, origin = find_sample(args.sample, home)
    # The transfer's source is a folder holding only the sample (as a3m gets it).
    source = home / "source"
    source.mkdir()
    if sample.stat().st_dev == source.stat().st_dev:
        os.link(sample, source / sample.name)
    else:
        shutil.copyfile(sample, source / sample.name)
    a3m, a3m_note = (None, "not run (--no-a3m)") if args.no_a3m else find_a3m(args.a3m)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("scan", "noscan", "clam", "copy")}
    runs["a3m"] = []
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=home))
    for i in range(args.runs):
        runs["clam"].append(measured(lambda: clamscan_alone(source / sample.name)))
        runs["copy"].append(measured(lambda: copy_floor(source / sample.name, scratch / "copy")))
        for kind in ("scan", "noscan"):
            runs[kind].append(measured(partial(custos_run, source, CONFIGS[kind], i)))
        if a3m is not None:
            runs["a3m"].append(measured(partial(a3m_run, a3m, source / sample.name, scratch, i)))
    custos_s = median_of(runs["scan"], "total_s")
    noscan_s = median_of(runs["noscan"], "total_s")
    clam_s, copy_s = median_of(runs["clam"]), median_of(runs["copy"])
    floor_s = max(clam_s or 0.0, copy_s or 0.0)
    a3m_s = median_of([r for r in runs["a3m"] if r["a3m_rc"] == 0])
    if runs["a3m"] and a3m_s is None:
        a3m_note = "a3m failed in every run (a3m_error in runs): no a3m figure"
    largest = max(r["largest_process_mib"] for r in runs["scan"] + runs["noscan"])
    print(
        json.dumps(
            {
                "bench": "large_file_side_by_side",
                "cores": os.cpu_count(),
                "sample": origin,
                "size_bytes": (source / sample.name).stat().st_size,
                "packaging": PACKAGING,
                "custos_s": custos_s,
                "custos_noscan_s": noscan_s,
                "clamscan_alone_s": clam_s,
                "read_hash_copy_s": copy_s,
                "floor_s": floor_s,
                "ratio_to_floor": round(custos_s / floor_s, 2) if custos_s and floor_s else None,
                "a3m_s": a3m_s,
                "a3m_note": a3m_note or None,
                "a3m_over_custos_noscan": (
                    round(a3m_s / noscan_s, 2) if a3m_s and noscan_s else None
                ),
                "largest_process_mib": largest,
                "target": TARGET,
                "runs": runs,
            }
        )
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
