"""A transfer killed with SIGKILL at any fault point ends as if nothing had happened.

For each point of ``custos.faults.POINTS`` a child process runs a transfer (a folder,
a zipped transfer or a bag, each with a nested zip, hidden and clutter files and
names that need sanitizing) with ``CUSTOS_FAULT`` naming the point, and dies there.
This process then resumes the transfer (the steps inline, as the reconciler's
resubmission would run them) and compares its SIP with the SIP of an uninterrupted
run of the same input: the same files with the same checksums and formats, the same
number of PREMIS events of each type per file, a transfer METS that validates, and
nothing stray in the processing location.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import bagit
import pytest
from sqlmodel import col, select

from custos import faults
from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import Event, File, LocationPurpose, Unit, UnitStatus
from custos.storage import default_location
from custos.transfers import start_transfer
from flows.transfer import run_transfer

CHILD = Path(__file__).with_name("fault_child.py")
KINDS = ("standard", "zipfile", "bag")
DATE = re.compile(r"-\d{4}-\d\d-\d\dT\d{6}")
#: (point, transfer kind that reaches it): every point at least once.
CASES: list[tuple[str, str]] = [
    ("move-to-processing:copying", "standard"),
    ("move-to-processing:renamed", "zipfile"),
    ("extract:writing", "zipfile"),
    ("extract:writing", "standard"),
    ("extract-transfer:extracted", "zipfile"),
    ("extract-transfer:payload", "zipfile"),
    ("extract-transfer:moving", "zipfile"),
    ("extract-transfer:moved", "zipfile"),
    ("restructure-bag:staging", "bag"),
    ("restructure-bag:payload", "bag"),
    ("restructure-bag:tags", "bag"),
    ("restructure-bag:done", "bag"),
    ("remove-hidden:removing", "standard"),
    ("restructure:moving", "standard"),
    ("compliance:config", "bag"),
    ("sanitize:renaming", "standard"),
    ("sanitize:renaming", "bag"),
    ("sanitize:renamed", "zipfile"),
    ("extract-packages:extracted", "standard"),
    ("extract-packages:registered", "bag"),
    ("create-sip:moving", "bag"),
    ("job:events-written@4", "standard"),
    ("job:events-written@12", "zipfile"),
]


def _member(name: str) -> zipfile.ZipInfo:
    return zipfile.ZipInfo(name, date_time=(2020, 1, 2, 3, 4, 6))  # the same bytes every time


def _content(root: Path) -> None:
    """The material: names to sanitize, a nested zip, hidden files and clutter."""
    (root / "Été dir").mkdir(parents=True)
    (root / "Été dir" / "a b.txt").write_text("accented folder, space in the name\n")
    (root / "x&y.csv").write_text("a,b\n1,2\n")
    (root / "notes.txt").write_text("hello preservation\n")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr(_member("deep/ü.txt"), "inside the inner zip\n")
    with zipfile.ZipFile(root / "bündel.zip", "w") as z:
        z.writestr(_member("inner/read me.txt"), "inside a zip\n")
        z.writestr(_member("inner/nested.zip"), inner.getvalue())
    (root / ".hidden").write_text("hidden\n")
    (root / "Thumbs.db").write_bytes(b"clutter")


def _source(kind: str, where: Path) -> Path:
    if kind == "standard":
        _content(where / "deposit")
        return where / "deposit"
    if kind == "bag":
        _content(where / "bag")
        bagit.make_bag(str(where / "bag"), checksums=["sha256"])
        return where / "bag"
    _content(where / "zipped" / "content")
    pkg = where / "zipped.zip"
    with zipfile.ZipFile(pkg, "w") as z:
        for path in sorted((where / "zipped").rglob("*")):
            if path.is_file():
                z.write(path, str(path.relative_to(where / "zipped")))
    return pkg


def _start(kind: str, where: Path) -> str:
    return start_transfer(f"fault-{kind}", _source(kind, where), kind, "automated")


def crash_at(point: str, what: str, uuid: str) -> None:
    """Run the transfer (or ingest) in a child process that dies at ``point`` (asserted)."""
    done = subprocess.run(
        [sys.executable, str(CHILD), what, uuid],
        env={**os.environ, faults.ENV: point},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == -signal.SIGKILL, (
        f"the {what} did not die at {point} (exit {done.returncode}): {done.stderr[-3000:]}"
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _result(uuid: str) -> dict[str, Any]:
    """What must not depend on a crash: the SIP's files, their rows and events."""
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.COMPLETE, (
            unit.status if unit else None,
            unit.error if unit else None,
        )
        sip = s.get(Unit, unit.sip_uuid)
        assert sip is not None and sip.current_path
        rows = s.exec(select(File).where(col(File.unit_uuid) == uuid)).all()
        events = s.exec(select(Event).where(col(Event.unit_uuid) == uuid)).all()
        names = {uuid: "<transfer>", sip.uuid: "<sip>", unit.name: "<name>"}
        sip_dir = Path(sip.current_path)
    pattern = re.compile("|".join(re.escape(k) for k in names))

    def norm(text: str) -> str:  # uuids, and the dates extracted folders are named after
        return DATE.sub("-<date>", pattern.sub(lambda m: names[m.group(0)], text))

    path_of = {f.uuid: norm(f.current_path) for f in rows}
    mets = [f for f in rows if f.current_path.endswith("METS.xml")]
    files = {
        norm(f.current_path): (
            None if f in mets else f.checksum,  # the transfer METS holds uuids and dates
            f.puid,
            f.format_name,
            f.removed,
        )
        for f in rows
    }
    counts = Counter((path_of.get(e.file_uuid or "", "<unit>"), e.event_type) for e in events)
    on_disk = {
        norm(str(p.relative_to(sip_dir))): _sha(p)
        for p in sip_dir.rglob("*")
        if p.is_file() and p.name not in ("METS.xml",) and "METS" not in p.name
    }
    documents = list(sip_dir.rglob("METS*.xml"))
    assert documents, "no transfer METS in the SIP"
    for document in documents:
        assert mets_problems(document) == [], document
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)
    # what the unit left in processing beside its SIP (the same as an uninterrupted
    # run's), and no hidden staging folder, journal or partial copy anywhere
    mine = [p for p in processing.iterdir() if uuid in p.name and p != sip_dir]
    stray = sorted(
        norm(str(q.relative_to(processing)))
        for p in mine
        for q in [p, *(p.rglob("*") if p.is_dir() and not p.is_symlink() else [])]
    )
    hidden = [q for q in [*mine, *sip_dir.rglob("*")] if q.name.startswith(".")]
    assert hidden == [], hidden
    return {"files": files, "events": counts, "disk": on_disk, "stray": stray}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, custos_home: Path) -> dict[str, Any]:
    """The result of one uninterrupted run of each kind of transfer."""
    from custos import dispatch
    from tests.support.recording import RecordingBackend

    dispatch.set_backend(RecordingBackend())
    try:
        done = {}
        for kind in KINDS:
            uuid = _start(kind, tmp_path_factory.mktemp(f"ref-{kind}"))
            assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
            done[kind] = _result(uuid)
        return done
    finally:
        dispatch.set_backend(None)


#: Steps only an ingest or a reingest reaches (``tests/ingest/test_ingest_fault_points.py``).
INGEST_STEPS = {
    "normalize", "prepare-aip", "compress", "prepare-dip", "store-dip", "store",
    "remove-processing", "reingest",
}  # fmt: skip
INGEST_ONLY = {p for p in faults.POINTS if p.partition(":")[0] in INGEST_STEPS}
#: Points only a capture's preservation reaches (``test_capture_preserve_crash.py``).
CAPTURE_ONLY = {p for p in faults.POINTS if p.startswith("preserve-capture:")}


def test_every_point_is_tried() -> None:
    tried = {p.partition("@")[0] for p, _ in CASES}
    assert tried == set(faults.POINTS) - INGEST_ONLY - CAPTURE_ONLY


@pytest.mark.parametrize(("point", "kind"), CASES, ids=[f"{p}-{k}" for p, k in CASES])
def test_killed_at_a_fault_point_resumes_to_the_same_sip(
    point: str, kind: str, tmp_path: Path, uninterrupted: dict[str, Any], dispatched: Any
) -> None:
    uuid = _start(kind, tmp_path)
    crash_at(point, "transfer", uuid)
    assert run_transfer(uuid, use_prefect=False) == UnitStatus.COMPLETE
    got, want = _result(uuid), uninterrupted[kind]
    assert got["files"] == want["files"]
    assert got["events"] == want["events"]
    assert got["disk"] == want["disk"]
    assert got["stray"] == want["stray"]
