"""The issue's end-to-end test: a mixed transfer becomes a stored AIP with the
``default`` configuration, every decision it leaves open answered through
``custos.decisions.answer`` as a user would; then the AIP is reingested (twice) back
to a stored AIP."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import bagit
import metsrw
import pytest
from lxml import etree
from sqlmodel import col, select

from custos import decisions, dispatch
from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import Event, File, Package, PackageStatus, Unit, UnitStatus
from custos.reingest import approve_reingest, start_reingest
from tasks.tools.compress import extract_aip
from tests.support.samples import make_jpeg, make_odt, make_pdf, make_png, make_wav

NS = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3"}

#: What a user answers to each decision ``default`` leaves open (decision -> label).
USER_ANSWERS = {
    "Do you want to perform file format identification?": "Yes",
    "Examine contents?": "Skip examine contents",
    "Create SIP(s)": "Create single SIP and continue processing",
    "Normalize": "Normalize for preservation and access",
    "Approve normalization": "Yes",
    "Reminder: add metadata if desired": "Continue",
    "Transcribe SIP contents?": "No",
    "Upload DIP": "Do not upload DIP",
    "Store DIP?": "Store DIP",
    "Store AIP": "Store AIP",
    "Approve AIP reingest": "Approve AIP reingest",
}
#: Location decisions: the user picks the first (default) location offered.
FIRST_CHOICE = {"Store AIP location", "Store DIP location"}


def make_video(path: Path) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=0.5:size=64x48:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=220:duration=0.5",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )


def _answer_until_done(asked: list[str], units: set[str]) -> None:
    """Answer each decision of ``units`` as it comes up, until none is waiting."""
    for _ in range(40):
        assert dispatch.inline_backend().wait_all(900), "inline flows still running"
        pending = [d for d in decisions.waiting() if d["unit_uuid"] in units]
        if not pending:
            return
        for d in pending:
            name = d["decision"]
            asked.append(name)
            if name in FIRST_CHOICE:
                choice = d["choices"][0]["id"]
            else:
                assert name in USER_ANSWERS, f"unexpected decision {name!r}: {d['choices']}"
                labels = {c["label"]: c["id"] for c in d["choices"]}
                assert USER_ANSWERS[name] in labels, (name, labels)
                choice = labels[USER_ANSWERS[name]]
            decisions.answer(d["job_uuid"], choice, by="archivist")
    raise AssertionError(f"decisions never stopped coming: {asked}")


def _unit(uuid: str) -> Unit:
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None
        return unit


def _stored_bag(uuid: str, aip_store: Path, into: Path) -> Path:
    with session_scope() as s:
        pkg = s.get(Package, uuid)
        assert pkg is not None and pkg.status == PackageStatus.STORED
    archive = aip_store / pkg.path
    assert archive.is_file() and archive.name.endswith(".7z")  # default: 7z bzip2
    return extract_aip(archive, into)


def _events_by_file(tree: etree._ElementTree) -> dict[str, list[str]]:
    """eventType values per file uuid, read from each file's amdSec."""
    out: dict[str, list[str]] = {}
    for amd in tree.iterfind(".//mets:amdSec", NS):
        uuid = amd.findtext(".//premis:objectIdentifierValue", namespaces=NS)
        assert uuid
        out[uuid] = [e.text or "" for e in amd.iterfind(".//premis:eventType", NS)]
    return out


@pytest.mark.slow
def test_mixed_transfer_to_stored_aip_with_the_default_config(
    custos_home: Path, tmp_path: Path, aip_store: Path, inline_flows: Any
) -> None:
    from custos.transfers import start_transfer

    src = tmp_path / "mixed"
    src.mkdir()
    make_png(src / "diagram.png")
    make_jpeg(src / "photo.jpg")
    make_pdf(src / "report.pdf")
    (src / "notes.txt").write_text("kept for ever\n")
    make_odt(src / "letter.odt")
    make_wav(src / "tone.wav")
    make_video(src / "clip.mp4")
    originals = {
        "diagram.png",
        "photo.jpg",
        "report.pdf",
        "notes.txt",
        "letter.odt",
        "tone.wav",
        "clip.mp4",
    }
    normalized = originals - {"notes.txt"}

    transfer_uuid = start_transfer("mixed", src, processing_config="default")
    asked: list[str] = []
    _answer_until_done(asked, {transfer_uuid})
    transfer = _unit(transfer_uuid)
    assert transfer.status == UnitStatus.COMPLETE, transfer.error
    assert transfer.sip_uuid
    sip_uuid = transfer.sip_uuid
    _answer_until_done(asked, {transfer_uuid, sip_uuid})
    assert not inline_flows.errors
    sip = _unit(sip_uuid)
    assert sip.status == UnitStatus.COMPLETE, sip.error
    # default asks these (and answers the rest itself).
    assert {
        "Normalize",
        "Approve normalization",
        "Reminder: add metadata if desired",
        "Transcribe SIP contents?",
        "Store AIP",
        "Store AIP location",
        "Upload DIP",
        "Store DIP?",
        "Store DIP location",
        "Create SIP(s)",
    } <= set(asked)

    bag_dir = _stored_bag(sip_uuid, aip_store, tmp_path / "aip")
    assert bag_dir.name == f"mixed-{sip_uuid}"
    bag = bagit.Bag(str(bag_dir))
    bag.validate()  # every payload checksum, Payload-Oxum, tag manifests
    assert bag.info["External-Identifier"] == sip_uuid
    mets_path = bag_dir / "data" / f"METS.{sip_uuid}.xml"
    assert mets_problems(mets_path) == []
    mets = metsrw.METSDocument.fromfile(str(mets_path))
    entries = {e.file_uuid: e for e in mets.all_files() if e.type == "Item"}

    tree = etree.parse(str(mets_path))
    events = _events_by_file(tree)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for f in tree.iterfind(".//mets:fileSec//mets:file", NS):
        use = f.getparent().get("USE")
        groups[f.get("GROUPID", "")].append((use, f.get("ID", "").removeprefix("file-")))

    with session_scope() as s:
        rows = {f.uuid: f for f in s.exec(select(File).where(col(File.sip_uuid) == sip_uuid))}
    original_uuid = {
        Path(f.current_path).name: u
        for u, f in rows.items()
        if f.use == "original"
        and f.current_path.startswith("objects/")
        and not f.current_path.startswith("objects/metadata/")
        and not f.current_path.startswith("objects/submissionDocumentation/")
    }
    assert set(original_uuid) == originals
    for name, uuid in original_uuid.items():
        assert entries[uuid].use == "original"
        types = events[uuid]
        for needed in (
            "ingestion",
            "message digest calculation",
            "virus check",
            "format identification",
        ):
            assert needed in types, f"{name}: no {needed} event in {types}"
        assert ("normalization" in types) == (name in normalized), (name, types)
        # metsrw reads the same events.
        assert "virus check" in {e.event_type for e in entries[uuid].get_premis_events()}

    derivatives = {u: f for u, f in rows.items() if f.use == "preservation"}
    assert {
        rows[f.derived_from].current_path.rsplit("/", 1)[-1]
        for f in derivatives.values()
        if f.derived_from
    } == normalized
    expected_ext = {
        "diagram.png": ".tif",
        "photo.jpg": ".tif",
        "report.pdf": ".pdf",
        "letter.odt": ".pdf",
        "tone.wav": ".mkv",
        "clip.mp4": ".mkv",
    }
    for uuid, f in derivatives.items():
        assert f.derived_from is not None
        source = Path(rows[f.derived_from].current_path).name
        assert Path(f.current_path).suffix == expected_ext[source]
        assert (bag_dir / "data" / f.current_path).is_file()
        assert entries[uuid].use == "preservation"
        types = events[uuid]
        assert "creation" in types and "validation" in types, (f.current_path, types)
        group = f"Group-{f.derived_from}"
        assert ("preservation", uuid) in groups[group] and ("original", f.derived_from) in groups[
            group
        ]
    assert list((bag_dir / "data" / "thumbnails").glob("*.jpg"))

    # The same AIP reingested twice (partial, then metadata): events already in the
    # database (the transfer's) must not be inserted again.
    for kind in ("partial", "metadata"):
        assert start_reingest(sip_uuid, kind) == sip_uuid
        assert dispatch.inline_backend().wait_all(900), "inline flows still running"
        assert decisions.pending(sip_uuid, "Approve AIP reingest") is not None, _unit(
            sip_uuid
        ).error
        approve_reingest(sip_uuid, by="archivist")
        _answer_until_done(asked, {sip_uuid})
        assert not inline_flows.errors
        assert _unit(sip_uuid).status == UnitStatus.COMPLETE, _unit(sip_uuid).error
        again = _stored_bag(sip_uuid, aip_store, tmp_path / f"aip-{kind}")
        bagit.Bag(str(again)).validate()
        again_mets = again / "data" / f"METS.{sip_uuid}.xml"
        assert mets_problems(again_mets) == []
        again_events = _events_by_file(etree.parse(str(again_mets)))
        assert set(again_events) == set(events)  # no file lost or added
        for uuid, types in events.items():
            assert "reingestion" in again_events[uuid]
            assert set(types) <= set(again_events[uuid])
    with session_scope() as s:
        ids = list(s.exec(select(Event.uuid).where(col(Event.file_uuid).in_(list(events)))))
    assert len(ids) == len(set(ids))
