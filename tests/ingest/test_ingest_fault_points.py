"""An ingest killed with SIGKILL at a fault point of normalization, or between a job's
work and its record, resumes to the same AIP as an uninterrupted ingest: the same
files (originals and derivatives) with the same checksums and formats, the same
count of PREMIS events of each type per file, a valid METS, nothing stray in the
store or the SIP."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import Event, File, Package, PackageStatus
from flows.ingest import ingest
from tasks.aipstore import verify_stored_aip
from tasks.tools.compress import extract_aip
from tests.flows.test_fault_points import crash_at

from .conftest import AUTOMATED, SipFactory, make_png

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FILES: dict[str, Any] = {"objects/photo.png": make_png, "objects/notes.txt": "hello\n"}


def _aip(uuid: str, store: Path, scratch: Path) -> dict[str, Any]:
    with session_scope() as s:
        aip = s.get(Package, uuid)
        assert aip is not None and aip.status == PackageStatus.STORED
        rows = s.exec(select(File).where(col(File.sip_uuid) == uuid)).all()
        events = s.exec(select(Event).where(col(Event.unit_uuid) == uuid)).all()
    stored = store / aip.path
    assert verify_stored_aip(stored, aip.checksum, extract=True).problems == ()
    bag = extract_aip(stored, scratch)
    mets = bag / "data" / f"METS.{uuid}.xml"
    assert mets_problems(mets) == []
    path_of = {f.uuid: UUID.sub("<uuid>", f.current_path) for f in rows}
    formats = {path_of[f.uuid]: (f.use, f.puid) for f in rows}
    originals = {path_of[f.uuid]: f.checksum for f in rows if f.use == "original"}
    counts = Counter((path_of.get(e.file_uuid or "", "<unit>"), e.event_type) for e in events)
    in_bag = sorted(
        UUID.sub("<uuid>", str(p.relative_to(bag))) for p in bag.rglob("*") if p.is_file()
    )
    stray = [p.name for p in store.iterdir() if uuid in p.name and p != stored]
    return {
        "formats": formats,
        "originals": originals,
        "events": counts,
        "bag": in_bag,
        "stray": stray,
    }


@pytest.mark.parametrize("point", ["normalize:made", "job:events-written@3"])
def test_ingest_killed_at_a_fault_point_resumes_to_the_same_aip(
    point: str, make_sip: SipFactory, aip_store: Path, dip_store: Path, tmp_path: Path
) -> None:
    reference, _ = make_sip(FILES, name="ref", options=AUTOMATED)
    assert ingest.fn(reference) == "complete"
    want = _aip(reference, aip_store, tmp_path / "ref")
    uuid, _ = make_sip(FILES, name="ref", options=AUTOMATED)
    crash_at(point, "ingest", uuid)
    assert ingest.fn(uuid) == "complete"
    got = _aip(uuid, aip_store, tmp_path / "got")
    assert got == want
