"""Safe extraction against real malicious and nested packages built at test time."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import warnings
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


def _zip_link(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode in the high bits of external_attr
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


def _outside(tmp_path: Path) -> set[str]:
    return {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}


def test_links_and_specials_are_listed_not_created(tmp_path: Path) -> None:
    entries: list[tarfile.TarInfo | tuple[str, bytes]] = [("a.txt", b"alpha")]
    for name, kind, target in [
        ("up", tarfile.SYMTYPE, "../../../etc"),
        ("abs", tarfile.SYMTYPE, "/etc/passwd"),
        ("inner", tarfile.SYMTYPE, "a.txt"),
        ("hard", tarfile.LNKTYPE, "a.txt"),
        ("hard-out", tarfile.LNKTYPE, "/etc/passwd"),
    ]:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        entries.append(info)
    for name, kind in [
        ("null", tarfile.CHRTYPE),
        ("disk", tarfile.BLKTYPE),
        ("pipe", tarfile.FIFOTYPE),
    ]:
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor = kind, 1, 3
        entries.append(info)
    pkg = _tar(tmp_path / "mixed.tar.xz", entries, "w:xz")
    before = pkg.read_bytes()
    result = extract_package(pkg, date=DATE)
    dest = result.destination
    assert sorted(os.listdir(dest)) == ["a.txt"]  # nothing but the regular file
    assert [f.path for f in result.files] == [dest / "a.txt"]
    reasons = {n.member: n.reason for n in result.not_extracted}
    assert reasons == {
        "up": "symbolic link to '../../../etc'",
        "abs": "symbolic link to '/etc/passwd'",
        "inner": "symbolic link to 'a.txt'",
        "hard": "hard link to 'a.txt'",
        "hard-out": "hard link to '/etc/passwd'",
        "null": "character device",
        "disk": "block device",
        "pipe": "FIFO",
    }
    assert {n.package for n in result.not_extracted} == {pkg}
    assert pkg.read_bytes() == before


def test_zip_symlink_member_not_created(tmp_path: Path) -> None:
    pkg = tmp_path / "links.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("docs/a.txt", "alpha")
        _zip_link(zf, "docs/up", "../../..")
    result = extract_package(pkg, date=DATE)
    assert [str(n) for n in result.not_extracted] == ["'docs/up' (symbolic link to '../../..')"]
    assert sorted(os.listdir(result.destination / "docs")) == ["a.txt"]


def _reproduction_zip(path: Path) -> Path:
    """The issue's attack: two chained links, then a file written through them."""
    with zipfile.ZipFile(path, "w") as zf:
        _zip_link(zf, "d1/d2/d3/b", "../../..")
        _zip_link(zf, "a", "d1/d2/d3/b/../../..")
        zf.writestr("a/ESCAPED.txt", "escaped")
    return path


def test_reproduction_zip_refused_naming_the_member(tmp_path: Path) -> None:
    work = tmp_path / "x1" / "x2" / "x3" / "work"
    work.mkdir(parents=True)
    pkg = _reproduction_zip(work / "attack.zip")
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput) as err:
        extract_package(pkg, date=DATE)
    assert "'a/ESCAPED.txt' needs 'a' to be a folder" in str(err.value)
    assert "symbolic link" in str(err.value)
    assert err.value.details["member"] == "a/ESCAPED.txt"
    _assert_untouched(pkg, before)
    assert not any(p.name == "ESCAPED.txt" for p in tmp_path.rglob("*"))


def _reproduction_tar(path: Path) -> Path:
    b = tarfile.TarInfo("d1/d2/d3/b")
    b.type, b.linkname = tarfile.SYMTYPE, "../../.."
    a = tarfile.TarInfo("a")
    a.type, a.linkname = tarfile.SYMTYPE, "d1/d2/d3/b/../../.."
    return _tar(path, [b, a, ("a/ESCAPED.txt", b"escaped")], "w:gz")


def test_reproduction_tar_and_7z_refused(tmp_path: Path) -> None:
    work = tmp_path / "x1" / "x2" / "x3" / "work"
    work.mkdir(parents=True)
    pkg = _reproduction_tar(work / "attack.tar.gz")
    with pytest.raises(InvalidInput, match="'a/ESCAPED.txt' needs 'a' to be a folder"):
        extract_package(pkg, date=DATE)
    tool = _7z()
    stage1, stage2 = tmp_path / "s1", tmp_path / "s2"
    (stage1 / "d1" / "d2" / "d3").mkdir(parents=True)
    (stage1 / "d1" / "d2" / "d3" / "b").symlink_to("../../..")
    (stage1 / "a").symlink_to("d1/d2/d3/b/../../..")
    (stage2 / "a").mkdir(parents=True)
    (stage2 / "a" / "ESCAPED.txt").write_text("escaped")
    seven = work.parent / "seven" / "attack.7z"
    seven.parent.mkdir()
    subprocess.run(
        [tool, "a", "-bd", "-snl", str(seven), "d1", "a"],
        cwd=stage1,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [tool, "a", "-bd", str(seven), "a/ESCAPED.txt"], cwd=stage2, check=True, capture_output=True
    )
    with pytest.raises(InvalidInput, match="'a/ESCAPED.txt' needs 'a' to be a folder"):
        extract_package(seven, date=DATE)
    assert sorted(os.listdir(seven.parent)) == ["attack.7z"]
    assert list(tmp_path.rglob("ESCAPED.txt")) == [stage2 / "a" / "ESCAPED.txt"]


@pytest.mark.parametrize(
    "names, reason",
    [
        (["a.txt", "a.txt"], "have the same name"),
        (["a.txt", "./a.txt"], "have the same name"),
        (["Readme.txt", "README.TXT"], "letter case"),
        (["caf\u00e9.txt", "cafe\u0301.txt"], "Unicode normalization"),
        (["D/x", "d/y"], "letter case"),
        (["a", "a/b"], "needs 'a' to be a folder"),
    ],
)
def test_colliding_names_refused_naming_both(tmp_path: Path, names: list[str], reason: str) -> None:
    pkg = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(pkg, "w") as zf:
            for i, name in enumerate(names):
                zf.writestr(name, f"content {i}")
    before = pkg.read_bytes()
    with pytest.raises(InvalidInput, match=reason) as err:
        extract_package(pkg, date=DATE)
    for name in names:
        assert repr(name) in str(err.value)
    _assert_untouched(pkg, before)


def test_folder_listed_twice_is_fine(tmp_path: Path) -> None:
    pkg = _tar(tmp_path / "dirs.tar", [_dir("d"), _dir("d"), ("d/a.txt", b"a")])
    result = extract_package(pkg, date=DATE)
    assert [f.path.name for f in result.files] == ["a.txt"]


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def test_internal_symlink_not_created(tmp_path: Path) -> None:
    link = tarfile.TarInfo("docs/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../a.txt"
    pkg = _tar(tmp_path / "ok.tar", [("a.txt", b"alpha"), link])
    result = extract_package(pkg, date=DATE)
    assert not (result.destination / "docs" / "link").exists()
    assert not (result.destination / "docs" / "link").is_symlink()
    assert [f.path.name for f in result.files] == ["a.txt"]
    assert [n.member for n in result.not_extracted] == ["docs/link"]


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
    assert result.left_packed == [dest / "pk" / "inner.zip"]
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
    assert tool is not None  # the session's tool check found 7zz
    return tool


def test_7z_extract_links_and_fifo_not_created(tmp_path: Path) -> None:
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
    (src / "d" / "etc").symlink_to("/etc")
    (src / "d" / "near").symlink_to("a.txt")
    os.mkfifo(src / "d" / "pipe")
    bad = tmp_path / "bad" / "evil.7z"
    bad.parent.mkdir()
    subprocess.run([tool, "a", "-bd", "-snl", str(bad), "d"], cwd=src, capture_output=True)
    before = bad.read_bytes()
    result = extract_package(bad, date=DATE)
    dest = result.destination
    assert sorted(os.listdir(dest / "d")) == ["a.txt"]
    assert {n.member: n.reason for n in result.not_extracted} == {
        "d/evil": "symbolic link",
        "d/etc": "symbolic link",
        "d/near": "symbolic link",
        "d/pipe": "FIFO",
    }
    assert bad.read_bytes() == before
    assert sorted(os.listdir(bad.parent)) == ["evil.7z", dest.name]  # no private folder left


def test_package_kind(tmp_path: Path) -> None:
    docx = tmp_path / "report.docx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    assert package_kind(docx) is None and package_kind(fake) is None
    with pytest.raises(InvalidInput, match="not a supported package"):
        extract_package(fake)


def test_nested_7z_in_zip_and_zip_in_7z(tmp_path: Path) -> None:
    tool = _7z()
    src = tmp_path / "src"
    src.mkdir()
    (src / "in7z.txt").write_text("inside 7z")
    with zipfile.ZipFile(src / "inner.zip", "w") as zf:
        zf.writestr("inzip.txt", "inside zip")
    seven = tmp_path / "mid.7z"
    subprocess.run(
        [tool, "a", "-bd", str(seven), "in7z.txt", "inner.zip"],
        cwd=src,
        check=True,
        capture_output=True,
    )
    outer = tmp_path / "box" / "outer.zip"
    outer.parent.mkdir()
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(seven, "pk/mid.7z")
    result = extract_package(outer, date=DATE, delete=True)
    dest = result.destination
    mid = dest / "pk" / f"mid.7z-{DATE}"
    got = {(f.path.relative_to(dest).as_posix(), f.package) for f in result.files}
    assert got == {
        (f"pk/mid.7z-{DATE}/in7z.txt", dest / "pk" / "mid.7z"),
        (f"pk/mid.7z-{DATE}/inner.zip-{DATE}/inzip.txt", mid / "inner.zip"),
    }
    assert (mid / f"inner.zip-{DATE}" / "inzip.txt").read_text() == "inside zip"
    assert sorted(os.listdir(outer.parent)) == [dest.name]  # deleted, no private folder left


def test_remove_leftovers_only_removes_extraction_leftovers(tmp_path: Path) -> None:
    from tasks.extract import remove_leftovers

    (tmp_path / ".a.zip-2024.extracting-12345678" / "x").mkdir(parents=True)
    (tmp_path / ".custos-7z-0123456789ab").mkdir()
    (tmp_path / "kept.extracting-1").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (tmp_path / ".linked.extracting-1").symlink_to(outside)
    removed = remove_leftovers(tmp_path)
    assert sorted(removed) == [".a.zip-2024.extracting-12345678", ".custos-7z-0123456789ab"]
    assert sorted(os.listdir(tmp_path)) == [".linked.extracting-1", "kept.extracting-1"]
    assert (outside / "keep.txt").read_text() == "keep"
