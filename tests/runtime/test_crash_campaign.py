"""An operator's bad day: transfers through ``v2beta/package`` to a real ``custos serve``,
which loses power several times (every process killed at once, at random moments)
and is started again each time, as systemd would. Every transfer must still end as
one verified AIP, none failed, nothing stray left in processing or the AIP store.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from custos.runtime.preflight import free_port
from tests.support.service import ServeProcess

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(1800)]
TRANSFERS = 4
POWER_CUTS = int(os.environ.get("CUSTOS_CAMPAIGN_CUTS", "3"))
http = httpx.Client(timeout=60)


def _sources(home: Path) -> tuple[str, list[tuple[str, str]]]:
    """Small transfers in the default transfer source: (location uuid, [(name, type)])."""
    with sqlite3.connect(home / "custos.db") as db:
        loc_uuid, path = db.execute(
            "select uuid, path from location where purpose='TS' and is_default"
        ).fetchone()
    root = Path(path)
    made = []
    for i in range(TRANSFERS - 1):
        folder = root / f"campaign-{i}"
        (folder / "sub dir").mkdir(parents=True)
        (folder / "a.txt").write_text(f"transfer {i}\n" * 50)
        (folder / "sub dir" / "Été.csv").write_text("a,b\n1,2\n")
        (folder / "b.json").write_text(json.dumps({"i": i}))
        made.append((folder.name, "standard"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("zipped/readme.txt", "a zipped transfer\n")
        z.writestr("zipped/data/x.csv", "x\n1\n")
    (root / "campaign-zip.zip").write_bytes(buf.getvalue())
    made.append(("campaign-zip.zip", "zipfile"))
    return loc_uuid, made


def _status(api: str, auth: dict[str, str], uuid: str) -> tuple[str, str | None]:
    """(status of the transfer, or of its SIP once there is one; its SIP uuid)."""
    res = http.get(f"{api}/api/transfer/status/{uuid}", headers=auth)
    if res.status_code == 400 and "Unable to determine the status" in res.text:
        return "QUEUED", None  # no job yet (as Archivematica answers)
    assert res.status_code == 200, res.text
    body = res.json()
    sip = body.get("sip_uuid")
    if body["status"] != "COMPLETE" or not sip or sip == "BACKLOG":
        return str(body["status"]), None
    ingest = http.get(f"{api}/api/ingest/status/{sip}", headers=auth)
    if ingest.status_code != 200:
        return "PROCESSING", sip  # the SIP is being created
    return str(ingest.json()["status"]), sip


def test_power_cuts_cost_time_never_a_transfer(tmp_path: Path) -> None:
    seed = int(os.environ.get("CUSTOS_CAMPAIGN_SEED", time.time()))
    rnd = random.Random(seed)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CUSTOS_DATABASE_URL", "PREFECT_API_URL", "CUSTOS_DISPATCH")
    }
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        CUSTOS_HOME=str(home),
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
        CUSTOS_RECONCILE_INTERVAL="30",  # a run every few seconds would starve 2 cores
        CUSTOS_API_WORKERS="1",
    )
    log = tmp_path / "serve.log"
    serve = ServeProcess(env, log)
    cuts: list[str] = []
    began = time.monotonic()
    try:
        info = serve.ready()
        api, key = info["api_url"], info["admin_key"]
        auth = {"Authorization": f"ApiKey admin:{key}"}
        loc_uuid, sources = _sources(home)
        uuids = []
        for name, kind in sources:
            path = base64.b64encode(f"{loc_uuid}:{name}".encode()).decode()
            body = {"name": name, "path": path, "type": kind, "processing_config": "automated"}
            res = http.post(f"{api}/api/v2beta/package/", json=body, headers=auth)
            assert res.status_code == 202, res.text
            uuids.append(res.json()["id"])
        for cut in range(POWER_CUTS):
            delay = rnd.uniform(3.0, 40.0)
            time.sleep(delay)
            states = [_status(api, auth, u)[0] for u in uuids]
            killed = serve.power_cut()
            cuts.append(f"cut {cut + 1} after {delay:.1f} s: {states} ({len(killed)} processes)")
            serve = ServeProcess(env, log)
            serve.ready()
            print(cuts[-1], f"ready again at {time.monotonic() - began:.0f} s")
        deadline = time.monotonic() + 1800  # 2 cores shared by many: ingest is slow
        while True:
            states = {u: _status(api, auth, u) for u in uuids}
            if all(s == "COMPLETE" for s, _ in states.values()):
                break
            assert "FAILED" not in {s for s, _ in states.values()}, (states, cuts, seed)
            assert time.monotonic() < deadline, (states, cuts, seed, serve.tail())
            print(f"{time.monotonic() - began:.0f} s: {sorted(s for s, _ in states.values())}")
            time.sleep(2)
        sips = [sip for _, sip in states.values()]
        assert serve.stop() == 0
    finally:
        if serve.proc.poll() is None:
            serve.power_cut()

    # one stored AIP per transfer, each verified, no unit failed
    with sqlite3.connect(home / "custos.db") as db:
        failed = db.execute("select uuid, error from unit where status='FAILED'").fetchall()
        aips = db.execute(
            "select uuid, path from package where package_type='AIP' and status='STORED'"
        ).fetchall()
        store = Path(
            db.execute("select path from location where purpose='AS' and is_default").fetchone()[0]
        )
        processing = Path(
            db.execute("select path from location where purpose='CP' and is_default").fetchone()[0]
        )
    assert failed == [], (failed, cuts, seed)
    assert sorted(a for a, _ in aips) == sorted(s for s in sips if s), (aips, sips, cuts, seed)
    for aip_uuid, _ in aips:
        verified = subprocess.run(
            [sys.executable, "-m", "cli", "aip", "verify", aip_uuid, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert verified.returncode == 0, (verified.stdout, verified.stderr, cuts, seed)
        assert json.loads(verified.stdout)["outcome"] == "pass"
    # nothing in the store but the AIPs (no interrupted copy, no second AIP)
    kept = [store / rel for _, rel in aips]
    stray = [
        p
        for p in store.rglob("*")
        if p.is_file() and not any(p == k or p.is_relative_to(k) for k in kept)
    ]
    assert stray == [], (stray[:20], cuts, seed)
    assert not list(store.rglob(".*")), (list(store.rglob(".*")), cuts, seed)
    # in processing, only what an uninterrupted transfer leaves: its folder with its
    # processingMCP.xml and logs/ (the SIPs are gone with their AIPs stored); no hidden
    # staging copy, journal or partial extraction
    left = {p.relative_to(processing).as_posix() for p in processing.rglob("*")}
    allowed = {
        f"{p.name}{suffix}"
        for p in processing.iterdir()
        if any(p.name.endswith(u) for u in uuids)
        for suffix in ("", "/processingMCP.xml", "/logs")
    }
    assert left <= allowed, (sorted(left - allowed)[:20], cuts, seed)
