"""Build real SIPs for ingest tests: files made with real tools, Unit and File rows."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from custos.db import session_scope
from custos.models import File, FileUse, LocationPurpose, Unit, UnitType, new_uuid
from custos.storage import default_location
from tasks.tools.siegfried import identify_files
from tests.support.samples import make_odt as make_odt
from tests.support.samples import make_pdf as make_pdf
from tests.support.samples import make_png as make_png
from tests.support.samples import make_wav as make_wav


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SipFactory = Callable[..., tuple[str, Path]]


@pytest.fixture
def make_sip(custos_home: Path, tmp_path: Path) -> SipFactory:
    """``make_sip(files={"objects/a.png": make_png}, options={...})`` -> (uuid, dir).

    Files are identified with Siegfried and hashed, as the transfer would have done;
    ``metadata/`` files are registered with use ``metadata``. The SIP directory lives
    in the processing location; ``ingest_options`` go into the unit's variables.
    """
    processing = Path(default_location(LocationPurpose.CURRENTLY_PROCESSING).path)

    def factory(
        files: dict[str, Callable[[Path], None] | str],
        *,
        name: str = "sip",
        options: dict[str, Any] | None = None,
        config: str = "default",
    ) -> tuple[str, Path]:
        uuid = new_uuid()
        root = processing / f"{name}-{uuid[:8]}"
        for rel, maker in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(maker, str):
                path.write_text(maker)
            else:
                maker(path)
        paths = [root / rel for rel in files]
        formats = identify_files(paths).by_path()
        with session_scope() as s:
            s.add(
                Unit(
                    uuid=uuid,
                    unit_type=UnitType.SIP,
                    name=name,
                    current_path=str(root),
                    processing_config=config,
                    transfer_uuid=new_uuid(),
                    variables={"ingest_options": options or {}},
                )
            )
        with session_scope() as s:
            for rel, path in zip(files, paths, strict=True):
                ident = formats[path]
                use = FileUse.METADATA if rel.startswith("metadata/") else FileUse.ORIGINAL
                s.add(
                    File(
                        unit_uuid=uuid,
                        sip_uuid=uuid,
                        original_path=rel,
                        current_path=rel,
                        size=path.stat().st_size,
                        checksum=sha256(path),
                        checksum_type="sha256",
                        puid=ident.puid,
                        format_name=ident.format_name,
                        use=use,
                    )
                )
        return uuid, root

    return factory


@pytest.fixture
def aip_store(custos_home: Path) -> Path:
    return Path(default_location(LocationPurpose.AIP_STORAGE).path)


@pytest.fixture
def dip_store(custos_home: Path) -> Path:
    return Path(default_location(LocationPurpose.DIP_STORAGE).path)


#: ProcessingConfig overrides that answer every ingest decision.
AUTOMATED: dict[str, Any] = {
    "normalize": "preservation_access",
    "approve_normalization": "approve",
    "add_metadata_reminder": True,
    "transcribe": False,
    "store_aip": True,
    "aip_location": "/api/v2/location/default/AS/",
    "compression_algorithm": "7z-copy",
    "upload_dip": "none",
    "store_dip": True,
    "dip_location": "/api/v2/location/default/DS/",
}


def clear_rows(uuid: str) -> None:
    with session_scope() as s:
        s.execute(delete(File).where(File.unit_uuid == uuid))  # type: ignore[arg-type]
