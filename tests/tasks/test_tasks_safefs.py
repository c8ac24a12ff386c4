"""Writing relative to open folders holds when the tree changes underneath."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from custos.errors import InvalidInput
from tasks.extract import extract_package
from tasks.safefs import DirTree, UnsafePath, rename_noreplace


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    return outside


def test_a_link_in_the_path_is_refused_not_followed(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a").symlink_to(outside)
    with DirTree.open(dest) as tree:
        with pytest.raises(UnsafePath, match="a: is a symbolic link"):
            tree.create_file(("a", "x.txt"))
        with pytest.raises(UnsafePath, match="a: is a symbolic link"):
            tree.create_file(("a",))
        with pytest.raises(UnsafePath, match="a: is a symbolic link"):
            tree.open_file(("a",))
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    with pytest.raises(OSError):
        DirTree.open(dest / "a")  # the tree's own root must not be a link either


def test_a_folder_swapped_for_a_link_after_it_was_opened(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    with DirTree.open(dest) as tree:
        tree.dir_fd(("d",), create=True)
        (dest / "d").rename(dest / "moved")
        (dest / "d").symlink_to(outside)
        with tree.create_file(("d", "x.txt")) as out:  # the folder we opened, wherever it is
            out.write(b"x")
    assert (dest / "moved" / "x.txt").read_bytes() == b"x"
    assert sorted(os.listdir(outside)) == ["keep.txt"]


def test_rename_never_replaces(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            rename_noreplace(fd, "a", fd, "b")
        rename_noreplace(fd, "a", fd, "c")
    finally:
        os.close(fd)
    assert (tmp_path / "b").read_text() == "b" and (tmp_path / "c").read_text() == "a"


def test_extraction_while_someone_swaps_a_folder_for_a_link(tmp_path, monkeypatch) -> None:
    """Between two members, the half-written folder ``d`` becomes a link to outside."""
    outside = _outside(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    pkg = work / "race.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("d/first.txt", "1")
        zf.writestr("d/second.txt", "2")
        zf.writestr("e/third.txt", "3")
    real_open = zipfile.ZipFile.open
    opened: list[str] = []

    def racing_open(self, name, *args, **kwargs):  # type: ignore[no-untyped-def]
        member = name if isinstance(name, str) else name.filename
        if member == "d/second.txt":
            (staging,) = work.glob(".race.zip-*.extracting-*")
            (staging / "d").rename(staging / "d-moved")
            (staging / "d").symlink_to(outside)
            (staging / "e").symlink_to(outside)  # not yet created by us: refused when reached
        opened.append(member)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", racing_open)
    with pytest.raises(InvalidInput, match=r"race.zip: member 'e/third.txt' cannot be written"):
        extract_package(pkg, date="2024")
    assert opened == ["d/first.txt", "d/second.txt", "e/third.txt"]
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == "keep\n"
    assert sorted(os.listdir(work)) == ["race.zip"]  # staging removed, links and all
