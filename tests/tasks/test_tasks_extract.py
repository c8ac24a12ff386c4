"""Safe extraction against real malicious and nested packages built at test time."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from custos.errors import InvalidInput
from tasks.extract import ExtractLimits, extract_package, package_kind

DATE = "2024-01-02T03:04:05"


def _tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _assert_untouched(package: Path, before: bytes) -> None:
    assert package.read_bytes() == before
    assert sorted(p.name for p in package.parent.iterdir()) == [package.name]


def test_zip_extracts_next_to_package_with_date(tmp_path: Path) -> None:
    pkg = tmp_path / "photos.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("a.txt", "alpha")
        zf.writestr("sub/b.txt", "beta")
        zf.writestr("emptydir/", "")
    result = extract_package(pkg, date=DATE)
    dest = tmp_path / f"photos.zip-{DATE}"
    assert result.destination == dest
    assert [f.path for f in result.files] == [dest / "a.txt", dest / "sub" / "b.txt"]
    assert (dest / "sub" / "b.txt").read_text() == "beta" and (dest / "emptydir").is_dir()
    assert result.files[0].event_detail == f"Unpacked from: {pkg}"
    assert result.event_detail == 'program="python"; module="zipfile"'
    assert pkg.exists() and result.deleted_packages == []
    with pytest.raises(InvalidInput, match="already exists"):
        extract_package(pkg, date=DATE)


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt"]
)
def test_zip_slip_refused(tmp_path: Path, name: str) -> None:
    pkg = tmp_path / "slip.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(name, "pwned")
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput, match="refused") as err:
        extract_package(pkg, date=DATE)
    assert err.value.details["member"] == name
    _assert_untouched(pkg, before)
    assert not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.parametrize(
    "entry_name, reason",
    [("../../escape.txt", "path traversal"), ("/etc/cron.d/evil", "absolute path")],
)
def test_tar_slip_and_absolute_refused(tmp_path: Path, entry_name: str, reason: str) -> None:
    pkg = _tar(tmp_path / "slip.tar.gz", [("ok.txt", b"ok"), (entry_name, b"x")], "w:gz")
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput) as err:
        extract_package(pkg, date=DATE)
    assert err.value.details["reason"] == reason
    _assert_untouched(pkg, before)


def test_tar_symlink_escape_and_device_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc"
    pkg = _tar(tmp_path / "link.tar", [link, ("link/passwd", b"x")])
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput, match="points outside"):
        extract_package(pkg)
    _assert_untouched(pkg, before)

    dev = tarfile.TarInfo("null")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    (tmp_path / "dev").mkdir()
    pkg2 = _tar(tmp_path / "dev" / "dev.tar", [dev])
    with pytest.raises(InvalidInput, match="device/FIFO"):
        extract_package(pkg2)

    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
    (tmp_path / "hl").mkdir()
    with pytest.raises(InvalidInput, match="points outside"):
        extract_package(_tar(tmp_path / "hl" / "hard.tar", [hard]))


def test_internal_symlink_allowed(tmp_path: Path) -> None:
    link = tarfile.TarInfo("docs/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../a.txt"
    pkg = _tar(tmp_path / "ok.tar", [("a.txt", b"alpha"), link])
    result = extract_package(pkg, date=DATE)
    assert (result.destination / "docs" / "link").is_symlink()
    assert [f.path.name for f in result.files] == ["a.txt"]  # links are not files


def test_zip_bomb_refused_before_writing(tmp_path: Path) -> None:
    pkg = tmp_path / "bomb.zip"
    with zipfile.ZipFile(pkg, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros.bin", "w") as member:
            chunk = bytes(1024 * 1024)
            for _ in range(64):  # 64 MiB of zeros -> ~64 KiB compressed
                member.write(chunk)
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput, match="compression ratio") as err:
        extract_package(pkg, date=DATE)
    assert err.value.details["limit"] == "max_ratio"
    _assert_untouched(pkg, before)
    with pytest.raises(InvalidInput, match="exceeds the limit"):
        extract_package(pkg, limits=ExtractLimits(max_total_size=10 * 1024**2, max_ratio=1e9))
    _assert_untouched(pkg, before)


def test_file_count_limit(tmp_path: Path) -> None:
    pkg = _tar(tmp_path / "many.tar", [(f"f{i}", b"x") for i in range(20)])
    with pytest.raises(InvalidInput, match="more than 10 files"):
        extract_package(pkg, limits=ExtractLimits(max_files=10))


def _nested(tmp_path: Path) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", "deep")
    return _tar(
        tmp_path / "outer.tar.gz",
        [("top.txt", b"top"), ("pk/inner.zip", inner.getvalue())],
        "w:gz",
    )


def test_nested_zip_in_tar_gz_with_delete(tmp_path: Path) -> None:
    pkg = _nested(tmp_path)
    result = extract_package(pkg, date=DATE, delete=True)
    dest = tmp_path / f"outer.tar.gz-{DATE}"
    inner_dest = dest / "pk" / f"inner.zip-{DATE}"
    got = {(f.path, f.package) for f in result.files}
    assert got == {(dest / "top.txt", pkg), (inner_dest / "deep.txt", dest / "pk" / "inner.zip")}
    assert not pkg.exists() and not (dest / "pk" / "inner.zip").exists()
    assert set(result.deleted_packages) == {pkg, dest / "pk" / "inner.zip"}


def test_nested_depth_limit_leaves_inner_package(tmp_path: Path) -> None:
    pkg = _nested(tmp_path)
    result = extract_package(pkg, date=DATE, limits=ExtractLimits(max_depth=1))
    dest = tmp_path / f"outer.tar.gz-{DATE}"
    assert result.not_extracted == [dest / "pk" / "inner.zip"]
    assert {f.path.name for f in result.files} == {"top.txt", "inner.zip"}


def test_nested_failure_removes_everything(tmp_path: Path) -> None:
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.txt", "x")
    pkg = _tar(tmp_path / "outer.tar", [("ok.txt", b"ok"), ("evil.zip", evil.getvalue())])
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput, match="evil.zip"):
        extract_package(pkg, delete=True)
    _assert_untouched(pkg, before)


def _7z() -> str:
    tool = shutil.which("7zz") or shutil.which("7z")
    if tool is None:
        pytest.skip("7-Zip not installed")
    return tool


def test_7z_extract_and_symlink_refused(tmp_path: Path) -> None:
    tool = _7z()
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a.txt").write_text("alpha")
    pkg = tmp_path / "pack" / "arch.7z"
    pkg.parent.mkdir()
    subprocess.run([tool, "a", "-bd", str(pkg), "d"], cwd=src, check=True, capture_output=True)
    assert package_kind(pkg) == "7z"
    result = extract_package(pkg, date=DATE)
    assert [f.path.relative_to(result.destination).as_posix() for f in result.files] == ["d/a.txt"]
    assert result.event_detail.startswith('program="7zz"; version="')

    (src / "d" / "evil").symlink_to("../../../../etc/passwd")
    bad = tmp_path / "bad" / "evil.7z"
    bad.parent.mkdir()
    subprocess.run([tool, "a", "-bd", "-snl", str(bad), "d"], cwd=src, check=True,
                   capture_output=True)
    before = bad.read_bytes()
    with pytest.raises(InvalidInput, match="symlink"):
        extract_package(bad)
    _assert_untouched(bad, before)


def test_package_kind(tmp_path: Path) -> None:
    docx = tmp_path / "report.docx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    assert package_kind(docx) is None and package_kind(fake) is None
    with pytest.raises(InvalidInput, match="not a supported package"):
        extract_package(fake)
