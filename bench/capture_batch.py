"""Benchmark: a Perma.cc batch of local pages through a running ``custos serve``, end to end.

Starts ``custos serve`` on a fresh home (SQLite, loopback captures allowed), the
capture test site (``/page?n=N``: a title, images, a stylesheet, a favicon and a
script that fetches JSON), a capture user and its API key; then posts one batch
of ``pages`` URLs (``"wacz": true``) to ``POST /v1/archives/batches/`` and polls
the capture jobs until every one is completed or failed. The clock runs from the
POST to the last job done. Then, on the same serve, ``pages`` other pages posted
one by one to ``POST /v1/archives`` (a flow run, a process and a browser per
capture: how a batch ran before it had a flow of its own; ``--no-singles`` skips
it). Every capture is checked to have its own WARC and WACZ, and the capture flow
runs the Prefect server holds are counted by flow and state.

Beside it, the capture engine alone on the same site (``bench/capture.py``'s run:
one warm browser pool, concurrency 2) is the baseline.

Both report CPU seconds (user + system, every process involved: for the serve,
its whole process group's, children included) and the load average before and
after, because the machine may be shared.

Prints one JSON line. Run: ``.venv/bin/python bench/capture_batch.py [pages] [--no-singles]``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

PAGES = 20
TARGET_PAGES_PER_MIN = 50.0
#: Before this change: 20 pages in 77.8 s (a flow run, a process and a browser per capture).
BEFORE_PAGES_PER_MIN = 15.4
TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(sid: int) -> float:
    """CPU seconds (user + system, with reaped children) of a session's live processes
    (``custos serve`` starts its own session; its children make their own process
    groups but stay in it)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        if int(fields[3]) != sid:  # field 6 (session), after the name
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def start_serve(home: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    from custos.runtime.preflight import free_port

    env = dict(os.environ)
    for name in ("CUSTOS_DATABASE_URL", "PREFECT_API_URL", "CUSTOS_DISPATCH"):
        env.pop(name, None)
    env.update(
        CUSTOS_HOME=str(home),
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
        CUSTOS_API_WORKERS="1",
        CUSTOS_CAPTURE_ALLOW_LOOPBACK="true",
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(home / "serve.log", "ab"),
        start_new_session=True,
        cwd=root,
    )
    assert proc.stdout is not None
    text = ""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited {proc.returncode}: see {home / 'serve.log'}")
        if select.select([proc.stdout], [], [], 0.5)[0]:
            text += os.read(proc.stdout.fileno(), 65536).decode()
            try:
                return proc, json.loads(text)
            except ValueError:
                continue
    proc.kill()
    raise SystemExit("serve not ready in 240 s")


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def capture_flow_runs(prefect_url: str) -> dict[str, int]:
    """How many flow runs of each capture flow the Prefect server holds."""
    counts: dict[str, int] = {}
    flows = httpx.post(f"{prefect_url}/flows/filter", json={}, timeout=30).json()
    names = {f["id"]: f["name"] for f in flows}
    runs = httpx.post(f"{prefect_url}/flow_runs/filter", json={"limit": 200}, timeout=30).json()
    for run in runs:
        name = names.get(run["flow_id"], "?")
        if name.startswith("capture"):
            key = f"{name}:{run['state_type']}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _wait_jobs(client: httpx.Client, guids: list[str], started: float) -> tuple[float, float]:
    """Poll until every capture job is done: (seconds to the first, to the last)."""
    first: float | None = None
    while True:
        statuses = [client.get(f"/v1/capture_jobs/{g}").json()["status"] for g in guids]
        done = sum(s in ("completed", "failed") for s in statuses)
        if done and first is None:
            first = time.perf_counter() - started
        if done == len(guids):
            return first or 0.0, time.perf_counter() - started
        if time.perf_counter() - started > 1800:
            raise SystemExit(f"captures not done in 1800 s: {done} of {len(guids)}")
        time.sleep(0.25)


def submit_batch(client: httpx.Client, urls: list[str], folder: int) -> list[str]:
    """One Perma batch: one ``capture-batch`` flow run for every URL."""
    made = client.post(
        "/v1/archives/batches", json={"urls": urls, "target_folder": folder, "wacz": True}
    )
    made.raise_for_status()
    jobs = client.get(f"/v1/archives/batches/{made.json()['id']}").json()["capture_jobs"]
    return [j["guid"] for j in jobs]


def submit_singles(client: httpx.Client, urls: list[str], folder: int) -> list[str]:
    """One ``POST /v1/archives`` per URL: a ``capture`` flow run (a process, a browser)
    per capture, as every batch was run before batches had a flow of their own."""
    guids = []
    for url in urls:
        made = client.post("/v1/archives", json={"url": url, "folder": folder, "wacz": True})
        made.raise_for_status()
        guids.append(made.json()["guid"])
    return guids


def measure(
    client: httpx.Client, pgid: int, urls: list[str], folder: int, how: str
) -> dict[str, Any]:
    """Submit ``urls`` ``how`` (batch or singles) and time them to the last job done."""
    load_before = os.getloadavg()
    cpu_before = group_cpu(pgid)
    started = time.perf_counter()
    guids = (submit_batch if how == "batch" else submit_singles)(client, urls, folder)
    submitted = time.perf_counter() - started
    first, wall = _wait_jobs(client, guids, started)
    cpu = group_cpu(pgid) - cpu_before
    load_after = os.getloadavg()
    jobs = [client.get(f"/v1/capture_jobs/{g}").json() for g in guids]
    with_files = sum(
        client.get(f"/{g}/warc").status_code == 200 and client.get(f"/{g}/wacz").status_code == 200
        for g in guids
    )
    return {
        "submitted_as": how,
        "pages": len(urls),
        "failed": sum(j["status"] != "completed" for j in jobs),
        "distinct_captures": len(set(guids)),
        "captures_with_warc_and_wacz": with_files,
        "submit_s": round(submitted, 2),
        "first_done_s": round(first, 2),
        "wall_s": round(wall, 2),
        "pages_per_min": round(len(urls) / wall * 60, 1),
        "serve_cpu_s": round(cpu, 1),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in load_after],
    }


def serve_runs(pages: int, base: str, singles: bool) -> tuple[list[dict[str, Any]], Any]:
    """The batch (and, with ``singles``, the same pages one capture at a time) through
    the API of one fresh ``custos serve``; the capture flow runs Prefect holds after."""
    from custos.accounts import create_api_key, create_user
    from custos.db import make_engine

    home = Path(tempfile.mkdtemp(prefix="custos-bench-batch-"))
    proc, info = start_serve(home)
    try:
        engine = make_engine(f"sqlite:///{home / 'custos.db'}")
        user = create_user("bench", role="capture", engine=engine)
        assert user.id is not None
        auth = {"Authorization": f"ApiKey {create_api_key(user.id, engine=engine)}"}
        engine.dispose()
        with httpx.Client(base_url=info["api_url"], headers=auth, timeout=60) as client:
            folder = client.get("/v1/user").json()["top_level_folders"][0]["id"]
            runs = [
                measure(
                    client,
                    proc.pid,
                    [f"{base}/page?n={n}" for n in range(1, pages + 1)],
                    folder,
                    "batch",
                )
            ]
            if singles:
                urls = [f"{base}/page?n={n}" for n in range(pages + 1, 2 * pages + 1)]
                runs.append(measure(client, proc.pid, urls, folder, "singles"))
        flow_runs = capture_flow_runs(info["prefect_api_url"])
    finally:
        stop_serve(proc)
    return runs, flow_runs


def engine_run(pages: int, base: str) -> dict[str, Any]:
    """The capture engine alone (``bench/capture.py``): one warm pool, concurrency 2."""
    from bench.capture import run
    from custos.settings import load_settings

    load_before = os.getloadavg()
    cpu_before = own_cpu()
    with tempfile.TemporaryDirectory(prefix="custos-bench-engine-") as tmp:
        result = run(pages, 2, load_settings().chromium_executable(), base, Path(tmp))
    result["cpu_s"] = round(own_cpu() - cpu_before, 1)
    result["load_before"] = [round(v, 2) for v in load_before]
    result["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return result


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from tests.capture.site import SiteServer

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    pages = int(args[0]) if args else PAGES
    singles = "--no-singles" not in sys.argv
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the serve on the way out
    site = SiteServer("127.0.0.1").start()
    try:
        runs, flow_runs = serve_runs(pages, site.base, singles)
        engine = engine_run(pages, site.base)
    finally:
        site.stop()
    batch = runs[0]
    print(
        json.dumps(
            {
                "bench": "capture_batch",
                "batch": batch,
                "singles": runs[1] if singles else None,
                "engine_alone": engine,
                "flow_runs": flow_runs,
                "end_to_end_vs_engine": round(batch["pages_per_min"] / engine["pages_per_min"], 2),
                "before_pages_per_min_reported": BEFORE_PAGES_PER_MIN,
                "target_pages_per_min": TARGET_PAGES_PER_MIN,
                "target_met": batch["pages_per_min"] >= TARGET_PAGES_PER_MIN
                and not batch["failed"],
            }
        )
    )


if __name__ == "__main__":
    main()
