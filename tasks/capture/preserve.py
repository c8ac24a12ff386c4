"""Packaging a finished capture for preservation: laid out as a standard transfer.

``prepare_transfer`` writes the capture's folder into the default transfer source
(``captures/capture-<GUID>-<uuid8>/``), where the ``capture`` flow starts a
transfer with the ``capture`` processing configuration from it. A folder left by a
run that crashed before its transfer was created is written again from the start
(the transfer is created only once the folder is whole, and copies it first).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
from pathlib import Path

from custos.captures import tls_record
from custos.db import session_scope
from custos.errors import CustosError
from custos.faults import fault
from custos.models import Capture, LocationPurpose
from custos.storage import default_location

#: Folder of the default transfer source where captures are laid out as transfers.
PRESERVE_FOLDER = "captures"
CHUNK = 1 << 20


def preserve_folder(capture: Capture) -> str:
    """The capture's folder in the default transfer source, relative to it."""
    return f"{PRESERVE_FOLDER}/capture-{capture.guid}-{capture.uuid[:8]}"


def prepare_transfer(capture: Capture) -> tuple[str, str]:
    """Lay the capture out as a standard transfer in the default transfer source.

    Returns ``(location uuid, relative path)``. Objects: the WARC (uncompressed,
    ``<GUID>.warc``: Siegfried identifies a ``.warc.gz`` only as GZIP, the bare
    WARC as WARC), the screenshot and the WACZ when made. Submission
    documentation: the provenance summary (HTML and JSON) and ``capture.json``
    (this capture's record, with the digests of the WARC as captured and the
    TLS verdict of each https origin).
    ``metadata/metadata.csv`` gives the WARC its Dublin Core title, source and date.
    """
    if not capture.warc_path or not Path(capture.warc_path).is_file():
        raise CustosError(f"capture {capture.guid} has no WARC to preserve")
    location = default_location(LocationPurpose.TRANSFER_SOURCE)
    rel = preserve_folder(capture)
    root = Path(location.path) / rel
    if root.exists():  # left by a run that crashed before its transfer was created
        shutil.rmtree(root)
    docs = root / "metadata" / "submissionDocumentation"
    docs.mkdir(parents=True)
    warc_gz = Path(capture.warc_path)
    warc = root / f"{capture.guid}.warc"
    digest_gz, digest = hashlib.sha256(), hashlib.sha256()
    with gzip.open(warc_gz, "rb") as src, warc.open("wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    with warc_gz.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest_gz.update(chunk)
    directory = Path(capture.directory or warc_gz.parent)
    objects = [warc.name]
    for name, target in (
        ("screenshot.png", "screenshot.png"),
        (Path(capture.wacz_path).name if capture.wacz_path else "", f"{capture.guid}.wacz"),
    ):
        if name and (directory / name).is_file():
            shutil.copy2(directory / name, root / target)
            objects.append(target)
            fault("preserve-capture:preparing")
    for name in ("provenance-summary.html", "provenance-summary.json"):
        if (directory / name).is_file():
            shutil.copy2(directory / name, docs / name)
    record = {
        "guid": capture.guid,
        "uuid": capture.uuid,
        "url": capture.url,
        "final_url": capture.final_url,
        "title": capture.title,
        "description": capture.description,
        "capture_start": capture.capture_start,
        "capture_end": capture.capture_end,
        "captured_by_software": capture.captured_by_software,
        "captured_by_browser": capture.captured_by_browser,
        "warc_gz": {
            "name": warc_gz.name,
            "size": warc_gz.stat().st_size,
            "sha256": digest_gz.hexdigest(),
        },
        "warc": {"name": warc.name, "size": warc.stat().st_size, "sha256": digest.hexdigest()},
        "objects": objects,
    }
    with session_scope() as s:
        record["tls"] = tls_record(s, capture.uuid).get("origins", [])
    (docs / "capture.json").write_text(json.dumps(record, default=str, indent=2) + "\n")
    when = capture.capture_end or capture.created_at
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "filename",
            "dc.title",
            "dc.identifier",
            "dc.identifier",
            "dc.source",
            "dc.date",
            "dc.type",
            "dc.format",
        ]
    )
    writer.writerow(
        [
            f"objects/{warc.name}",
            capture.title or capture.url,
            capture.guid,
            capture.uuid,
            capture.url,
            when.date().isoformat(),
            "Web archive",
            "WARC",
        ]
    )
    (root / "metadata" / "metadata.csv").write_text(out.getvalue())
    return location.uuid, rel
