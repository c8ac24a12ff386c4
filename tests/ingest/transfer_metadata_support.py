"""Run a transfer whose ``metadata/`` a user filled, through the real flows, to a stored AIP.

``run_to_aip(src)`` starts the transfer with the ``automated`` configuration, runs the
transfer and ingest flows inline (real ClamAV, Siegfried, 7z, SQLite), extracts the
stored AIP and returns its METS read back three ways: the path, ``metsrw``'s document
and an lxml tree, after checking it against the bundled METS/PREMIS schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import metsrw
from lxml import etree
from sqlmodel import col, select

from custos import dispatch
from custos.db import session_scope
from custos.errors import CustosError
from custos.mets.validate import mets_problems
from custos.models import File, Job, JobStatus, LocationPurpose, Package, Unit, UnitStatus
from custos.storage import default_location
from custos.transfers import start_transfer
from tasks.tools.compress import extract_aip

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "xlink": "http://www.w3.org/1999/xlink",
}


@dataclass
class StoredAIP:
    sip_uuid: str
    transfer_uuid: str
    mets_path: Path
    mets: metsrw.METSDocument
    tree: etree._ElementTree

    def file_uuid(self, current_path: str) -> str:
        """The UUID of the AIP file at ``objects/...``."""
        with session_scope() as s:
            row = s.exec(
                select(File).where(
                    col(File.sip_uuid) == self.sip_uuid, col(File.current_path) == current_path
                )
            ).one()
        return row.uuid

    def amd_sec(self, current_path: str) -> etree._Element:
        """The amdSec of the AIP file at ``current_path``."""
        fid = f"file-{self.file_uuid(current_path)}"
        admid = self.tree.find(f".//mets:file[@ID='{fid}']", NS).get("ADMID")  # type: ignore[union-attr]
        amd = self.tree.find(f".//mets:amdSec[@ID='{admid}']", NS)
        assert amd is not None
        return amd

    def physical_div(self, current_path: str) -> etree._Element:
        fid = f"file-{self.file_uuid(current_path)}"
        fptr = self.tree.find(
            f".//mets:structMap[@TYPE='physical']//mets:fptr[@FILEID='{fid}']", NS
        )
        assert fptr is not None
        return fptr.getparent()  # type: ignore[return-value]


def make_source(root: Path, files: dict[str, str | bytes]) -> Path:
    """A transfer folder: ``{"objects/a.txt": "text", "metadata/rights.csv": "..."}``."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    return root


def run_inline(start: Callable[[], str]) -> str:
    """Call ``start`` with the inline backend and wait for every flow it leads to.

    A unit's failure (a ``CustosError``) is the unit's business and is taken off the
    process-wide backend's error list, so later tests do not see it; anything else
    (a defect) fails the test.
    """
    backend = dispatch.inline_backend()
    before = set(backend.errors)
    dispatch.set_backend(backend)
    try:
        uuid = start()
        assert backend.wait_all(600), "flows still running"
    finally:
        dispatch.set_backend(None)
        new = {k: backend.errors.pop(k) for k in set(backend.errors) - before}
    defects = [e for e in new.values() if not isinstance(e, CustosError)]
    assert not defects, defects
    return uuid


def run_transfer_inline(src: Path, name: str) -> str:
    """Start the transfer and run every flow it leads to, inline; returns its UUID."""
    return run_inline(lambda: start_transfer(name, src, processing_config="automated"))


def unit(uuid: str) -> Unit:
    with session_scope() as s:
        u = s.get(Unit, uuid)
        assert u is not None
        return u


def job(uuid: str, name: str) -> Job:
    with session_scope() as s:
        return s.exec(select(Job).where(col(Job.unit_uuid) == uuid, col(Job.name) == name)).one()


def failed_at(uuid: str, name: str) -> Job:
    """The transfer failed, and at job ``name``: return that job."""
    assert unit(uuid).status == UnitStatus.FAILED
    found = job(uuid, name)
    assert found.status == JobStatus.FAILED, found.output
    return found


def run_to_aip(src: Path, tmp_path: Path, name: str = "md") -> StoredAIP:
    """Transfer ``src`` to a stored AIP; its METS validated and parsed."""
    transfer_uuid = run_transfer_inline(src, name)
    transfer = unit(transfer_uuid)
    assert transfer.status == UnitStatus.COMPLETE, transfer.error
    sip_uuid = transfer.sip_uuid
    assert sip_uuid
    sip = unit(sip_uuid)
    assert sip.status == UnitStatus.COMPLETE, sip.error
    with session_scope() as s:
        pkg = s.get(Package, sip_uuid)
        assert pkg is not None
    store = Path(default_location(LocationPurpose.AIP_STORAGE).path)
    bag = extract_aip(store / pkg.path, tmp_path / "aip")
    mets_path = bag / "data" / f"METS.{sip_uuid}.xml"
    assert mets_problems(mets_path) == []
    return StoredAIP(
        sip_uuid,
        transfer_uuid,
        mets_path,
        metsrw.METSDocument.fromfile(str(mets_path)),
        etree.parse(str(mets_path)),
    )
