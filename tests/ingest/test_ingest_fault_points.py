"""An ingest killed with SIGKILL at a fault point resumes to the same AIP as an
uninterrupted ingest: the same files (originals and derivatives) with the same
checksums and formats, the same count of PREMIS events of each type per file, a
valid METS, the same DIP, nothing stray in processing or the stores, and at no
instant an AIP counted as stored that is not whole under its final name.

Each packaging, store and DIP point is tried in a chain: a child process runs the
ingest and dies at the first point, another resumes it and dies at the next, and so
on; this process then resumes it to the end (as the reconciler's resubmission would)
and compares. Normalization and the job record are tried one at a time; a reingest
is killed while it unpacks the stored AIP.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from custos import dispatch, faults
from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import Event, File, LocationPurpose, Package, PackageStatus
from custos.reingest import approve_reingest, start_reingest
from custos.storage import default_location
from flows.ingest import ingest
from flows.reingest import reingest
from tasks.aipstore import verify_stored_aip
from tasks.ingest.package import dip_uuid
from tasks.tools.compress import extract_aip
from tests.flows.test_fault_points import crash_at

from .conftest import AUTOMATED, SipFactory, make_png

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FILES: dict[str, Any] = {
    "objects/photo.png": make_png,
    "objects/notes.txt": "hello\n",
    # larger than one copy chunk: a store killed while copying leaves a partial file
    "objects/data.bin": lambda p: p.write_bytes(random.Random(15).randbytes(1_500_000)),
}
QUICK = AUTOMATED | {"normalize": "none", "store_dip": False}
#: (options, the points killed in turn, in the order the ingest reaches them)
CHAINS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "7z-with-dip": (
        AUTOMATED,
        [
            "prepare-dip:copying",
            "store-dip:copying",
            "store-dip:stored",
            "prepare-aip:bagging",
            "prepare-aip:bagged",
            "compress:written",
            "store:copying",
            "store:stored",
            "remove-processing:removing",
        ],
    ),
    "tar.gz": (
        QUICK | {"compression_algorithm": "tar.gz"},
        ["compress:writing", "store:copying", "remove-processing:removing"],
    ),
    "uncompressed": (
        QUICK | {"compression_algorithm": "uncompressed"},
        ["prepare-aip:bagging", "store:copying", "store:stored"],
    ),
}
SINGLE = ["normalize:made", "job:events-written@3"]
REINGEST = ["reingest:unpacking", "reingest:unpacked"]
_references: dict[str, dict[str, Any]] = {}


def _processing() -> Path:
    return Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)


def _aip(uuid: str, store: Path, dip_store: Path, scratch: Path) -> dict[str, Any]:
    with session_scope() as s:
        aip = s.get(Package, uuid)
        assert aip is not None and aip.status == PackageStatus.STORED
        dip = s.get(Package, dip_uuid(uuid))
        rows = s.exec(select(File).where(col(File.sip_uuid) == uuid)).all()
        events = s.exec(select(Event).where(col(Event.unit_uuid) == uuid)).all()
    stored = store / aip.path
    assert verify_stored_aip(stored, aip.checksum, extract=True).problems == ()
    bag = stored if stored.is_dir() else extract_aip(stored, scratch)
    mets = bag / "data" / f"METS.{uuid}.xml"
    assert mets_problems(mets) == []
    path_of = {f.uuid: UUID.sub("<uuid>", f.current_path) for f in rows}
    formats = {path_of[f.uuid]: (f.use, f.puid) for f in rows}
    originals = {path_of[f.uuid]: f.checksum for f in rows if f.use == "original"}
    counts = Counter((path_of.get(e.file_uuid or "", "<unit>"), e.event_type) for e in events)
    in_bag = sorted(
        UUID.sub("<uuid>", str(p.relative_to(bag))) for p in bag.rglob("*") if p.is_file()
    )
    in_dip: list[str] = []
    if dip is not None:
        assert dip.status == PackageStatus.STORED
        in_dip = sorted(
            UUID.sub("<uuid>", str(p.relative_to(dip_store / dip.path)))
            for p in (dip_store / dip.path).rglob("*")
            if p.is_file()
        )
    return {
        "formats": formats,
        "originals": originals,
        "events": counts,
        "bag": in_bag,
        "dip": in_dip,
        "stray": sorted(p.name for p in store.iterdir() if uuid in p.name and p != stored),
        "dip stray": sorted(
            p.name
            for p in dip_store.iterdir()
            if uuid in p.name and (dip is None or p.name != dip.path)
        ),
        "processing": sorted(p.name for p in _processing().iterdir() if uuid[:8] in p.name),
    }


def _nothing_counted_unwhole(uuid: str, store: Path, dip_store: Path) -> None:
    """After a crash: a Package STORED is whole under its final name; no stray
    staging copy is counted as anything."""
    with session_scope() as s:
        rows = [s.get(Package, uuid), s.get(Package, dip_uuid(uuid))]
    for row, where in zip(rows, (store, dip_store), strict=True):
        if row is None or row.status != PackageStatus.STORED:
            continue
        final = where / row.path
        assert final.exists(), f"{row.path} counted as stored, not in the store"
        if row.package_type == "AIP":
            assert verify_stored_aip(final, row.checksum).problems == ()


def _reference(key: str, options: dict[str, Any], make_sip: SipFactory, where: Path) -> Any:
    """The uninterrupted ingest's AIP for these options (once per session)."""
    if key not in _references:
        uuid, _ = make_sip(FILES, name="ref", options=options)
        assert ingest.fn(uuid) == "complete"
        store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
        dips = Path(default_location(LocationPurpose.DIP_STORAGE).path)
        _references[key] = _aip(uuid, store, dips, where / "ref")
    return _references[key]


def test_every_ingest_point_is_tried() -> None:
    from tests.flows.test_capture_preserve_crash import POINTS as CAPTURE_POINTS
    from tests.flows.test_fault_points import CASES

    tried = {p.partition("@")[0] for p in SINGLE + REINGEST + CAPTURE_POINTS}
    tried |= {p for _, points in CHAINS.values() for p in points}
    tried |= {p.partition("@")[0] for p, _ in CASES}
    assert tried == set(faults.POINTS)


@pytest.mark.parametrize("chain", list(CHAINS))
def test_ingest_killed_at_each_packaging_and_store_point_resumes_to_the_same_aip(
    chain: str, make_sip: SipFactory, aip_store: Path, dip_store: Path, tmp_path: Path
) -> None:
    options, points = CHAINS[chain]
    want = _reference(chain, options, make_sip, tmp_path)
    uuid, _ = make_sip(FILES, name="ref", options=options)
    for point in points:
        crash_at(point, "ingest", uuid)
        _nothing_counted_unwhole(uuid, aip_store, dip_store)
    assert ingest.fn(uuid) == "complete"
    got = _aip(uuid, aip_store, dip_store, tmp_path / "got")
    assert got == want
    assert got["stray"] == got["dip stray"] == got["processing"] == []


@pytest.mark.parametrize("point", SINGLE)
def test_ingest_killed_at_a_fault_point_resumes_to_the_same_aip(
    point: str, make_sip: SipFactory, aip_store: Path, dip_store: Path, tmp_path: Path
) -> None:
    want = _reference("7z-with-dip", AUTOMATED, make_sip, tmp_path)
    uuid, _ = make_sip(FILES, name="ref", options=AUTOMATED)
    crash_at(point, "ingest", uuid)
    assert ingest.fn(uuid) == "complete"
    assert _aip(uuid, aip_store, dip_store, tmp_path / "got") == want


def _reingested(
    make_sip: SipFactory, aip_store: Path, dip_store: Path, scratch: Path, crash: list[str]
) -> dict[str, Any]:
    """A metadata reingest of a fresh AIP, killed at each of ``crash`` in turn."""
    uuid, _ = make_sip(FILES, name="re", options=QUICK)
    assert ingest.fn(uuid) == "complete"
    start_reingest(uuid, "metadata")
    for point in crash:
        crash_at(point, "reingest", uuid)
    assert reingest.fn(uuid) == "wait"
    approve_reingest(uuid)
    assert ingest.fn(uuid) == "complete"
    return _aip(uuid, aip_store, dip_store, scratch)


def test_reingest_killed_while_unpacking_resumes_to_the_same_aip(
    make_sip: SipFactory,
    aip_store: Path,
    dip_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dispatch, "submit", lambda *a, **k: "test-run")  # run here instead
    want = _reingested(make_sip, aip_store, dip_store, tmp_path / "ref", [])
    got = _reingested(make_sip, aip_store, dip_store, tmp_path / "got", REINGEST)
    assert got == want
    assert got["processing"] == []
    leftovers = [p.name for p in _processing().iterdir() if p.name.startswith(".reingest-")]
    assert leftovers == []
