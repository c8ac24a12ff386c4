"""End-to-end ingest of a small SIP: derivatives, METS, bag, compression, store, DIP."""

from __future__ import annotations

from pathlib import Path

import metsrw
from sqlmodel import col, select

from custos.db import session_scope
from custos.mets.read import read_mets
from custos.mets.validate import mets_problems
from custos.models import Event, File, Package, PackageStatus, Unit, UnitStatus
from flows.ingest import ingest
from tasks.aipstore import verify_stored_aip
from tasks.tools.compress import extract_aip

from .conftest import AUTOMATED, SipFactory, make_odt, make_pdf, make_png, make_wav


def _events(file_uuid: str) -> list[str]:
    with session_scope() as s:
        return [
            e.event_type
            for e in s.exec(
                select(Event)
                .where(col(Event.file_uuid) == file_uuid)
                .order_by(col(Event.event_datetime))
            )
        ]


def test_ingest_preservation_and_access_end_to_end(
    make_sip: SipFactory, aip_store: Path, dip_store: Path, tmp_path: Path
) -> None:
    uuid, root = make_sip(
        {
            "objects/photo.png": make_png,
            "objects/sound.wav": make_wav,
            "objects/paper.pdf": make_pdf,
            "objects/letter.odt": make_odt,
            "metadata/metadata.csv": "filename,dc.title,dc.creator\nobjects,My SIP,Custos\n"
            "objects/photo.png,A photo,Someone\n",
        },
        name="e2e",
        options=AUTOMATED,
    )

    assert ingest.fn(uuid) == "complete"

    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.COMPLETE
        files = list(s.exec(select(File).where(col(File.sip_uuid) == uuid)))
        aip = s.get(Package, uuid)
        dip = s.exec(
            select(Package).where(
                col(Package.package_type) == "DIP", col(Package.name) == f"e2e-{uuid}"
            )
        ).one()
    by_use: dict[str, list[File]] = {}
    for f in files:
        by_use.setdefault(f.use, []).append(f)
    originals = {f.current_path: f for f in by_use["original"]}
    preservation = {f.derived_from: f for f in by_use["preservation"]}
    # Every original got a preservation copy next to it, named <stem>-<uuid>.<ext>.
    expected_ext = {
        "objects/photo.png": "tif",
        "objects/sound.wav": "mkv",
        "objects/paper.pdf": "pdf",
        "objects/letter.odt": "pdf",
    }
    for path, ext in expected_ext.items():
        d = preservation[originals[path].uuid]
        assert d.current_path == path.rsplit(".", 1)[0] + f"-{d.uuid}.{ext}"
        assert d.checksum and d.checksum_type == "sha256" and d.puid
        assert _events(originals[path].uuid)[-1] == "normalization"
        assert {"creation", "message digest calculation", "validation"} <= set(_events(d.uuid))
    assert {f.derived_from for f in by_use["access"]} == {f.uuid for f in originals.values()}
    assert preservation[originals["objects/paper.pdf"].uuid].puid in {
        "fmt/476",
        "fmt/477",
        "fmt/478",
        "fmt/479",
        "fmt/480",
        "fmt/481",
    }
    # The AIP: stored under its final name, verified, and Package row STORED.
    assert aip is not None and aip.status == PackageStatus.STORED
    stored = aip_store / aip.path
    assert stored.name == f"e2e-{uuid}.7z" and stored.is_file()
    assert verify_stored_aip(stored, aip.checksum, extract=True).problems == ()
    bag = extract_aip(stored, tmp_path / "x")
    mets = bag / "data" / f"METS.{uuid}.xml"
    assert mets_problems(mets) == []
    parsed = metsrw.METSDocument.fromfile(str(mets))
    assert {e.use for e in parsed.all_files() if e.type == "Item"} >= {
        "original",
        "preservation",
        "metadata",
    }
    contents = read_mets(mets)
    assert len([f for f in contents.files.values() if f["use"] == "preservation"]) == 4
    assert b"My SIP" in mets.read_bytes() and b"A photo" in mets.read_bytes()
    for path, f in originals.items():
        assert (bag / "data" / path).read_bytes()  # originals are in the AIP
        assert contents.files[f.uuid]["checksum"] == f.checksum
    assert (bag / "data" / "thumbnails" / f"{originals['objects/photo.png'].uuid}.jpg").is_file()
    assert not list(aip_store.glob(".tmp-*"))
    # The DIP: access copies, thumbnails and the METS.
    dip_dir = dip_store / dip.path
    assert (dip_dir / f"METS.{uuid}.xml").is_file()
    assert len(list((dip_dir / "objects").iterdir())) == 4
    assert list((dip_dir / "thumbnails").glob("*.jpg"))
    # Processing directory removed (the flow renamed it to <name>-<uuid> first).
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and not Path(unit.current_path or "").exists()
