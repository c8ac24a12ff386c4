"""A real SIP directory on disk and a built AIP bag from it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from tasks.aip_bag import BagResult, build_aip_bag

SIP_UUID = UUID("d31cc44f-ce01-4e67-affe-513868d9cf3d")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    root = tmp_path / "sip"
    (root / "objects" / "docs").mkdir(parents=True)
    (root / "objects" / "empty" / "deeper").mkdir(parents=True)
    (root / "objects" / "docs" / "report.txt").write_text("quarterly report\n" * 50)
    (root / "objects" / "docs" / "café ñ.bin").write_bytes(bytes(range(256)) * 20)
    (root / "objects" / "metadata" / "transfers").mkdir(parents=True)
    (root / "objects" / "metadata" / "transfers" / "metadata.csv").write_text("filename,dc.title\n")
    (root / "logs").mkdir()
    (root / "logs" / "fileFormatIdentification.log").write_text("ok\n")
    (root / "thumbnails").mkdir()
    (root / f"METS.{SIP_UUID}.xml").write_text("<mets/>\n")
    (root / "processingMCP.xml").write_text("<not-in-the-aip/>")
    return root


@pytest.fixture
def bag(sip: Path, tmp_path: Path) -> BagResult:
    known = {"objects/docs/report.txt": sha256(sip / "objects/docs/report.txt")}
    return build_aip_bag(
        sip,
        tmp_path / "work",
        name="my-aip",
        sip_uuid=SIP_UUID,
        checksums=known,
        now=lambda: datetime(2024, 3, 1, tzinfo=UTC),
    )
