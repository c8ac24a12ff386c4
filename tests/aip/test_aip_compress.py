"""Every packaging variant round-trips to a valid bag, with a correct sha256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from custos.errors import ConfigError, InvalidInput
from custos.stored_aips import verify_aip_bag
from tasks.aip_bag import BagResult
from tasks.tools.compress import Compression, compress_aip, extract_aip

VARIANTS = [
    pytest.param(Compression.SEVEN_Z_COPY, ".7z"),
    pytest.param(Compression.SEVEN_Z_BZIP2, ".7z"),
    pytest.param(Compression.SEVEN_Z_LZMA, ".7z"),
    pytest.param(Compression.TAR_GZ, ".tar.gz"),
    pytest.param(Compression.TAR_BZ2, ".tar.bz2"),
]


@pytest.mark.parametrize(("method", "suffix"), VARIANTS)
def test_round_trip(method: Compression, suffix: str, bag: BagResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = compress_aip(bag.path, out, method=method)
    assert result.path == out / f"{bag.path.name}{suffix}"
    assert result.size == result.path.stat().st_size
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.tool and result.tool_version
    assert f'program="{result.tool}"' in result.event_detail
    extracted = extract_aip(result.path, tmp_path / "x")
    assert extracted.name == bag.path.name
    assert (extracted / "data/objects/empty/deeper").is_dir()
    report = verify_aip_bag(extracted)
    assert report.valid, report.problems


def test_levels(bag: BagResult, tmp_path: Path) -> None:
    assert compress_aip(bag.path, tmp_path, method=Compression.TAR_GZ).level == 6
    with pytest.raises(ConfigError):
        compress_aip(bag.path, tmp_path, method=Compression.TAR_BZ2, level=0)


def test_seven_zip_copy_is_level_zero(bag: BagResult, tmp_path: Path) -> None:
    result = compress_aip(bag.path, tmp_path, method=Compression.SEVEN_Z_COPY, level=9)
    assert result.level == 0 and 'level="0"' in result.event_detail


def test_uncompressed_is_a_no_op(bag: BagResult, tmp_path: Path) -> None:
    result = compress_aip(bag.path, tmp_path, method=Compression.UNCOMPRESSED)
    assert result.path == bag.path and result.sha256 is None
    assert list(tmp_path.glob("*.7z")) == []


def test_extract_refuses_unknown_and_multi_root(tmp_path: Path) -> None:
    odd = tmp_path / "aip.zip"
    odd.write_bytes(b"PK")
    with pytest.raises(InvalidInput):
        extract_aip(odd, tmp_path / "x")
    import tarfile

    two = tmp_path / "two.tar.gz"
    with tarfile.open(two, "w:gz") as tar:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            tar.add(tmp_path / name, arcname=name)
    with pytest.raises(InvalidInput, match="one AIP directory"):
        extract_aip(two, tmp_path / "y")
