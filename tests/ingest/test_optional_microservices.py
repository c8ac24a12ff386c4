"""The microservices a processing configuration switches on, end to end: one transfer
whose configuration answers every decision Yes becomes a stored AIP, and its METS
(read back with metsrw and validated against the schemas) shows each of them:
characterization of every file, validation skipped for a missing validator,
identification at ingest, MediaConch policy checks on originals and derivatives,
Tesseract OCR, nested packages left packed, and empty directories (which survive a
metadata reingest). Also: the fields Custos refuses, and *Approve standard transfer*
preconfigured."""

from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import metsrw
import pytest
from lxml import etree
from sqlmodel import col, select

from custos import decisions, processing
from custos.db import session_scope
from custos.mets.validate import mets_problems
from custos.models import Event, File, UnitStatus
from custos.reingest import approve_reingest, start_reingest
from custos.settings import get_settings
from custos.transfers import start_transfer
from tasks.tools import mediaconch
from tests.support.recording import RecordingBackend
from tests.support.transfers import job_output, transfer_to_aip, unit

from .conftest import AUTOMATED, SipFactory

NS = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3"}

#: Every switchable microservice on.
EVERYTHING = processing.ProcessingConfig(
    approve_transfer=True,
    assign_uuids_to_directories=True,
    virus_scanning=True,
    transfer_structure_report=False,
    identify_transfer=True,
    identify_submission_docs=True,
    identify_ingest=True,
    extract_packages=True,
    delete_packages=False,
    policy_checks_originals=True,
    examine_contents=False,
    create_sip="single",
    normalize="preservation_access",
    approve_normalization="approve",
    thumbnails="none",
    policy_checks_preservation=True,
    policy_checks_access=True,
    bind_pids=False,
    document_empty_dirs=True,
    add_metadata_reminder=True,
    transcribe=True,
    compression_algorithm="uncompressed",
    store_aip=True,
    aip_location="/api/v2/location/default/AS/",
    upload_dip="none",
    store_dip=False,
)


def _ffmpeg(path: Path, *args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args, str(path)], check=True)


def _video(path: Path, codec: str) -> None:
    _ffmpeg(
        path,
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=0.3:size=64x48:rate=10",
        "-c:v",
        codec,
        *(["-pix_fmt", "yuv420p"] if codec == "libx264" else ["-level", "3", "-g", "1"]),
    )


def _text_image(path: Path) -> None:
    subprocess.run(
        ["convert", "-size", "480x120", "xc:white", "-fill", "black", "-pointsize", "48"]
        + ["-annotate", "+20+80", "HELLO CUSTOS", str(path)],
        check=True,
    )


def _nested_zip(path: Path, tmp: Path) -> None:
    inner = tmp / "inner.zip"
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep.txt", "two packages down\n")
    with zipfile.ZipFile(path, "w") as z:
        z.write(inner, "inner.zip")
        z.writestr("top.txt", "one package down\n")


@pytest.fixture
def one_level(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Packages nested one level deep are extracted, deeper ones kept as files."""
    monkeypatch.setenv("CUSTOS_EXTRACT_MAX_DEPTH", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _events(tree: etree._ElementTree, file_uuid: str) -> list[tuple[str, str, str, str]]:
    """(type, detail, outcome, note) of a file's events in the METS."""
    amd = tree.xpath("//mets:file[@ID=$id]/@ADMID", namespaces=NS, id=f"file-{file_uuid}")[0]
    return [
        (
            e.findtext("premis:eventType", namespaces=NS) or "",
            e.findtext(".//premis:eventDetail", namespaces=NS) or "",
            e.findtext(".//premis:eventOutcome", namespaces=NS) or "",
            e.findtext(".//premis:eventOutcomeDetailNote", namespaces=NS) or "",
        )
        for e in tree.xpath(f"//mets:amdSec[@ID='{amd}']//premis:event", namespaces=NS)
    ]


def _directory_uuid(tree: etree._ElementTree, label: str) -> str:
    """The PREMIS entity UUID of the normative structMap's folder ``label``."""
    (div,) = tree.xpath(
        "//mets:structMap[@LABEL='Normative Directory Structure']//mets:div[@LABEL=$l]",
        namespaces=NS,
        l=label,
    )
    dmdid = div.get("DMDID", "").split()[0]
    values = tree.xpath(
        f"//mets:dmdSec[@ID='{dmdid}']//premis:objectIdentifierValue/text()", namespaces=NS
    )
    return str(values[0]) if values else ""


def _rows(sip_uuid: str) -> dict[str, File]:
    with session_scope() as s:
        return {
            f.current_path: f
            for f in s.exec(select(File).where(col(File.sip_uuid) == sip_uuid)).all()
        }


@pytest.mark.slow
def test_every_switched_on_microservice_reaches_the_aip_mets(
    tmp_path: Path,
    aip_store: Path,
    inline_flows: Any,
    one_level: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tasks.tools.validate as validate

    real_which = validate.which
    monkeypatch.setattr(validate, "which", lambda p: None if p == "pngcheck" else real_which(p))
    processing.save("everything", EVERYTHING)
    src = tmp_path / "switched"
    (src / "empty" / "inner").mkdir(parents=True)
    _text_image(src / "scan.png")
    (src / "notes.txt").write_text("kept for ever\n")
    _video(src / "master.mkv", "ffv1")
    _video(src / "h264.mkv", "libx264")
    _nested_zip(src / "bundle.zip", tmp_path)

    transfer_uuid = start_transfer(
        "switched", src, processing_config="everything", auto_approve=False
    )
    transfer, sip = transfer_to_aip(inline_flows, transfer_uuid)
    sip_uuid = sip.uuid

    # Nested packages: inner.zip is deeper than the limit, so it stays packed, named.
    still = job_output(transfer_uuid, "Determine if transfer still contains packages")
    assert still.startswith("Yes: 1 packages kept as files") and "inner.zip" in still, still
    assert "deeper than the nesting limit" in still

    mets_path = aip_store / f"switched-{sip_uuid}" / "data" / f"METS.{sip_uuid}.xml"
    assert mets_problems(mets_path) == []
    doc = metsrw.METSDocument.fromfile(str(mets_path))
    tree = etree.parse(str(mets_path))
    rows = _rows(sip_uuid)

    def uuid_of(path: str) -> str:
        return rows[path].uuid

    # Characterization: every file, plain text included (ExifTool XML in the METS).
    notes = uuid_of("objects/notes.txt")
    ext = tree.xpath("//mets:file[@ID=$id]/@ADMID", namespaces=NS, id=f"file-{notes}")[0]
    assert tree.xpath(
        f"//mets:amdSec[@ID='{ext}']//premis:objectCharacteristicsExtension/*", namespaces=NS
    ), "notes.txt has no characterization"

    # Validation with pngcheck missing: a task and an event saying so.
    scan = uuid_of("objects/scan.png")
    scan_events = _events(tree, scan)
    skipped = [e for e in scan_events if e[0] == "validation"]
    assert skipped and skipped[0][3] == "skipped: pngcheck not installed", scan_events

    # Identification at ingest: a second format identification per object.
    assert [e[0] for e in scan_events].count("format identification") == 2, scan_events

    # Policy checks on originals: MediaConch, the policy named, pass and fail.
    def policy_events(uuid: str) -> list[tuple[str, str, str, str]]:
        return [e for e in _events(tree, uuid) if 'program="MediaConch"' in e[1]]

    (good,) = policy_events(uuid_of("objects/master.mkv"))
    assert good[2] == "pass" and "ffv1-matroska-preservation.xml" in good[3], good
    (bad,) = policy_events(uuid_of("objects/h264.mkv"))
    assert bad[2] == "fail" and "Video is FFV1" in bad[3], bad
    # ... on the preservation derivative of the H.264 original (FFV1: passes) ...
    h264 = uuid_of("objects/h264.mkv")
    (derivative,) = [f for f in rows.values() if f.use == "preservation" and f.derived_from == h264]
    (checked,) = policy_events(derivative.uuid)
    assert checked[2] == "pass", checked
    # ... and on the access derivatives (events in the database: not part of the AIP).
    access = [f.uuid for f in rows.values() if f.use == "access" and f.current_path.endswith("mp4")]
    assert len(access) == 2
    with session_scope() as s:
        notes_ = s.exec(
            select(Event.outcome_note).where(
                col(Event.file_uuid).in_(access), col(Event.event_type) == "validation"
            )
        ).all()
    assert len(notes_) == 2 and all("access-mp4-mp3.xml" in n for n in notes_), notes_
    # MediaConch's reports: originals' in the transfer's logs, preservation derivatives'
    # in the AIP's logs (logs/policyChecks/<policy>/<file>.xml); none for access copies.
    data = mets_path.parent
    (transfer_logs,) = (data / "logs" / "transfers").iterdir()
    originals_reports = transfer_logs / "logs" / "policyChecks" / "ffv1-matroska-preservation"
    assert sorted(p.name for p in originals_reports.iterdir()) == [
        "h264.mkv.xml",
        "master.mkv.xml",
    ]
    report = etree.parse(str(originals_reports / "h264.mkv.xml")).getroot()
    assert report.tag == "{https://mediaarea.net/mediaconch}MediaConch"
    derived_reports = data / "logs" / "policyChecks"
    mkv_copies = {
        Path(f.current_path).name
        for f in rows.values()
        if f.use == "preservation" and f.current_path.endswith(".mkv")
    }
    assert Path(derivative.current_path).name in mkv_copies
    assert {p.relative_to(derived_reports).as_posix() for p in derived_reports.rglob("*.xml")} == {
        f"ffv1-matroska-preservation/{name}.xml" for name in mkv_copies
    }
    # The policies used are kept in the AIP, as submission documentation.
    kept = {
        e.label for e in doc.all_files() if e.type == "Item" and e.use == "submissionDocumentation"
    }
    assert {"ffv1-matroska-preservation.xml", "access-mp4-mp3.xml"} <= kept, kept
    # Identification of submission documentation (identify_submission_docs: Yes).
    (kept_policy,) = [
        f for f in rows.values() if f.current_path.endswith("policies/access-mp4-mp3.xml")
    ]
    assert "format identification" in {e[0] for e in _events(tree, kept_policy.uuid)}
    policies = mets_path.parent / "objects" / "submissionDocumentation" / "policies"
    assert (policies / "access-mp4-mp3.xml").read_bytes() == (
        mediaconch.POLICY_DIR / "access-mp4-mp3.xml"
    ).read_bytes()

    # OCR: a text file per image in the text/ocr fileGrp, a transcription event.
    (text,) = [f for f in rows.values() if f.use == "text/ocr"]
    assert text.current_path == f"objects/metadata/OCRfiles/scan-{scan}.txt"
    entry = doc.get_file(file_uuid=text.uuid)
    assert entry is not None and entry.use == "text/ocr"
    on_disk = mets_path.parent / text.current_path
    assert "HELLO CUSTOS" in on_disk.read_text()
    (transcription,) = [e for e in scan_events if e[0] == "transcription"]
    assert transcription[1].startswith('program="tesseract"'), transcription
    assert transcription[2] == "transcribed"
    assert transcription[3] == f"%SIPDirectory%{text.current_path}"

    # Empty directories: in the normative structMap (metsrw reads them back), on disk.
    normative = tree.xpath(
        "//mets:structMap[@LABEL='Normative Directory Structure']"
        "//mets:div[@LABEL='empty']/mets:div[@LABEL='inner']",
        namespaces=NS,
    )
    assert normative, "the empty folder is not in the normative structMap"
    dirs = {
        (e.parent.label if e.parent else None, e.label)
        for e in doc.all_files()
        if e.type == "Directory"
    }
    assert ("empty", "inner") in dirs, dirs
    assert (mets_path.parent / "objects" / "empty" / "inner").is_dir()
    # Assign UUIDs to directories: the folder's UUID is its PREMIS entity in the METS.
    given = (transfer.variables or {})["directory_uuids"]["objects/empty/inner"]
    assert _directory_uuid(tree, "inner") == given

    # ... and survive a metadata reingest.
    assert start_reingest(sip_uuid, "metadata") == sip_uuid
    assert inline_flows.wait_all(900)
    approve_reingest(sip_uuid, by="archivist")
    assert inline_flows.wait_all(900)
    assert unit(sip_uuid).status == UnitStatus.COMPLETE, unit(sip_uuid).error
    assert mets_problems(mets_path) == []
    again = etree.parse(str(mets_path))
    assert again.xpath(
        "//mets:structMap[@LABEL='Normative Directory Structure']"
        "//mets:div[@LABEL='empty']/mets:div[@LABEL='inner']",
        namespaces=NS,
    ), "the empty folder did not survive the reingest"
    assert _directory_uuid(again, "inner") == given
    assert (mets_path.parent / "objects" / "empty" / "inner").is_dir()


def test_bind_pids_yes_is_refused_naming_it(make_sip: SipFactory) -> None:
    from flows.ingest import ingest

    uuid, _ = make_sip(
        {"objects/a.txt": "a\n"},
        options=AUTOMATED | {"normalize": "none", "bind_pids": True, "transcribe": False},
    )
    with pytest.raises(Exception, match="Bind PIDs"):
        ingest.fn(uuid)
    row = unit(uuid)
    assert row.status == UnitStatus.FAILED
    assert "Bind PIDs: Yes is not supported" in (row.error or "")


@pytest.mark.parametrize(("answer", "status"), [(True, None), (False, UnitStatus.REJECTED)])
def test_approve_transfer_preconfigured(
    tmp_path: Path, recorded_runs: RecordingBackend, answer: bool, status: UnitStatus | None
) -> None:
    processing.save("approve", processing.ProcessingConfig(approve_transfer=answer))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    uuid = start_transfer("approve", src, processing_config="approve", auto_approve=False)
    assert ("transfer", {"unit_uuid": uuid}) in recorded_runs.submitted
    if answer:
        assert decisions.pending(uuid, "Approve standard transfer") is None
        assert unit(uuid).auto_approve
    else:
        from flows.transfer import run_transfer

        assert run_transfer(uuid, use_prefect=False) == status


def test_examine_contents_yes_is_refused_naming_bulk_extractor(
    tmp_path: Path, recorded_runs: RecordingBackend
) -> None:
    from flows.transfer import run_transfer

    processing.save(
        "examine",
        EVERYTHING.model_copy(update={"examine_contents": True, "approve_transfer": None}),
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    uuid = start_transfer("examine", src, processing_config="examine")
    with pytest.raises(Exception, match="bulk_extractor"):
        run_transfer(uuid, use_prefect=False)
    row = unit(uuid)
    assert row.status == UnitStatus.FAILED and "Examine contents" in (row.error or "")


@pytest.mark.slow
def test_manually_normalized_files_become_the_derivatives(
    tmp_path: Path, aip_store: Path, inline_flows: Any
) -> None:
    from tests.support.samples import make_png

    processing.save(
        "manual",
        EVERYTHING.model_copy(
            update={
                "identify_ingest": False,
                "transcribe": False,
                "policy_checks_originals": False,
                "policy_checks_preservation": False,
                "policy_checks_access": False,
                "normalize": "preservation_access",
            }
        ),
    )
    src = tmp_path / "manual"
    (src / "maps").mkdir(parents=True)
    (src / "manualNormalization" / "preservation" / "maps").mkdir(parents=True)
    (src / "manualNormalization" / "access").mkdir(parents=True)
    make_png(src / "maps" / "city.png")
    make_png(src / "plan.png")
    subprocess.run(
        ["convert", str(src / "maps" / "city.png"), "-compress", "lzw"]
        + [str(src / "manualNormalization" / "preservation" / "maps" / "city.tif")],
        check=True,
    )
    subprocess.run(
        [
            "convert",
            str(src / "plan.png"),
            str(src / "manualNormalization" / "access" / "plan.jpg"),
        ],
        check=True,
    )
    transfer_uuid = start_transfer("manual", src, processing_config="manual")
    sip_uuid = transfer_to_aip(inline_flows, transfer_uuid)[1].uuid
    rows = _rows(sip_uuid)
    city, plan = rows["objects/maps/city.png"], rows["objects/plan.png"]

    # city.png: the supplied TIFF is its preservation copy (no tool made another).
    (kept,) = [f for f in rows.values() if f.use == "preservation" and f.derived_from == city.uuid]
    assert kept.current_path == f"objects/maps/city-{kept.uuid}.tif"
    # plan.png: the supplied JPEG is its access copy; its preservation copy is made.
    (access,) = [f for f in rows.values() if f.use == "access" and f.derived_from == plan.uuid]
    assert access.current_path == f"DIP/objects/{plan.uuid}-plan.jpg"
    assert [f for f in rows.values() if f.use == "preservation" and f.derived_from == plan.uuid]

    mets_path = aip_store / f"manual-{sip_uuid}" / "data" / f"METS.{sip_uuid}.xml"
    assert mets_problems(mets_path) == []
    tree = etree.parse(str(mets_path))
    (manual,) = [e for e in _events(tree, city.uuid) if e[0] == "normalization"]
    assert manual[1] == "manual normalization" and manual[3] == kept.current_path
    doc = metsrw.METSDocument.fromfile(str(mets_path))
    entry = doc.get_file(file_uuid=kept.uuid)
    assert entry is not None and entry.use == "preservation"
    assert (mets_path.parent / kept.current_path).is_file()
    assert not (mets_path.parent / "objects" / "manualNormalization").exists()
    groups = tree.xpath("//mets:file[@ID=$id]/@GROUPID", namespaces=NS, id=f"file-{kept.uuid}")
    assert groups == [f"Group-{city.uuid}"]


@pytest.mark.slow
def test_service_files_are_kept_and_make_the_access_copies(
    tmp_path: Path, aip_store: Path, inline_flows: Any
) -> None:
    processing.save(
        "service",
        EVERYTHING.model_copy(
            update={
                "identify_ingest": False,
                "transcribe": False,
                "policy_checks_originals": False,
                "policy_checks_preservation": False,
                "policy_checks_access": False,
                "document_empty_dirs": False,
                "normalize": "service_access",
                "store_dip": True,
                "dip_location": "/api/v2/location/default/DS/",
            }
        ),
    )
    src = tmp_path / "serviced"
    (src / "service").mkdir(parents=True)

    def image(path: Path, size: str) -> None:
        subprocess.run(["convert", "-size", size, "xc:navy", str(path)], check=True)

    image(src / "poster.png", "40x30")
    image(src / "service" / "poster.tif", "80x60")  # a different size: the source is visible
    transfer_uuid = start_transfer("serviced", src, processing_config="service")
    sip_uuid = transfer_to_aip(inline_flows, transfer_uuid)[1].uuid
    rows = _rows(sip_uuid)
    poster = rows["objects/poster.png"]
    service = rows["objects/service/poster.tif"]
    assert service.use == "service" and service.derived_from == poster.uuid
    (access,) = [f for f in rows.values() if f.use == "access"]
    assert access.derived_from == poster.uuid
    # the access copy was made from the service file (its size), stored in the DIP
    dip = next(p for p in Path(aip_store.parent).rglob(Path(access.current_path).name))
    size = subprocess.run(
        ["identify", "-format", "%wx%h", str(dip)], capture_output=True, text=True, check=True
    ).stdout
    assert size == "80x60"
    mets_path = aip_store / f"serviced-{sip_uuid}" / "data" / f"METS.{sip_uuid}.xml"
    assert mets_problems(mets_path) == []
    doc = metsrw.METSDocument.fromfile(str(mets_path))
    entry = doc.get_file(file_uuid=service.uuid)
    assert entry is not None and entry.use == "service"
    tree = etree.parse(str(mets_path))
    assert tree.xpath("//mets:fileGrp[@USE='service']/mets:file/@GROUPID", namespaces=NS) == [
        f"Group-{poster.uuid}"
    ]


def test_redo_normalization_keeps_the_manually_normalized_files(make_sip: SipFactory) -> None:
    from flows.ingest import ingest
    from tests.support.samples import make_png

    def tiff(path: Path) -> None:
        make_png(path.with_suffix(".png"))
        subprocess.run(["convert", str(path.with_suffix(".png")), str(path)], check=True)
        path.with_suffix(".png").unlink()

    uuid, _ = make_sip(
        {"objects/a.png": make_png, "objects/manualNormalization/preservation/a.tif": tiff},
        options=AUTOMATED
        | {"normalize": "preservation", "approve_normalization": None, "transcribe": False},
    )
    assert ingest.fn(uuid) == "wait"
    rows = _rows(uuid)
    (manual,) = [f for f in rows.values() if f.use == "preservation"]
    assert manual.current_path == f"objects/a-{manual.uuid}.tif"
    from tasks.ingest.sip import load_sip

    root = load_sip(uuid).path  # renamed with the SIP's UUID
    assert (root / manual.current_path).is_file()
    pending = decisions.pending(uuid, "Approve normalization")
    assert pending is not None
    redo = next(c["id"] for c in pending.choices if c["label"] == "Redo")
    decisions.answer(pending.job_uuid, redo, resubmit=False)
    assert ingest.fn(uuid) == "wait"
    assert (root / manual.current_path).is_file(), "Redo deleted the depositor's file"
    assert manual.uuid in {f.uuid for f in _rows(uuid).values()}


@pytest.mark.parametrize("with_csv", [True, False])
def test_normalization_csv_pairs_what_names_cannot(make_sip: SipFactory, with_csv: bool) -> None:
    from flows.ingest import ingest
    from tests.support.samples import make_jpeg, make_png

    def tiff(path: Path) -> None:
        make_png(path.with_suffix(".png"))
        subprocess.run(["convert", str(path.with_suffix(".png")), str(path)], check=True)
        path.with_suffix(".png").unlink()

    files: dict[str, Any] = {
        "objects/a.png": make_png,
        "objects/a.jpg": make_jpeg,  # two originals named "a": the name alone is ambiguous
        "objects/manualNormalization/preservation/a.tif": tiff,
    }
    if with_csv:
        files["objects/manualNormalization/normalization.csv"] = (
            "# original, access, preservation\na.jpg,,manualNormalization/preservation/a.tif\n"
        )
    uuid, _ = make_sip(
        files, options=AUTOMATED | {"normalize": "preservation", "transcribe": False}
    )
    if not with_csv:
        with pytest.raises(Exception, match="Too many possible files for"):
            ingest.fn(uuid)
        return
    assert ingest.fn(uuid) == "complete", unit(uuid).error
    rows = _rows(uuid)
    jpg = rows["objects/a.jpg"]
    (kept,) = [f for f in rows.values() if f.use == "preservation" and f.derived_from == jpg.uuid]
    assert kept.current_path == f"objects/a-{kept.uuid}.tif"
