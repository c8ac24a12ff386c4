"""*Move to processing directory*: what is copied is the source, never what a link names.

A transfer waiting for approval keeps its source outside custody; the depositor
can change it meanwhile. The copy must not follow a folder or file swapped for a
link, nor open a FIFO swapped in, and the source must be left as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from custos.db import session_scope
from custos.errors import InvalidInput
from custos.models import Unit, UnitStatus
from custos.transfers import start_transfer
from flows.transfer import run_transfer
from tasks.transfer.move_to_processing import copy_in, staging_path

from .conftest import tree_digest


def _sample(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    os.utime(root / "a.txt", (1_000_000, 1_000_000))
    return root


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not copy me")
    return outside


def test_copy_keeps_contents_modes_and_times(tmp_path: Path) -> None:
    src = _sample(tmp_path / "src")
    (src / "a.txt").chmod(0o640)
    big = src / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    dest = tmp_path / "dest"
    copied = copy_in(src, dest)
    assert (copied.files, copied.size) == (3, 3 * 1024 * 1024 + 17 + 2)
    assert (dest / "big.bin").read_bytes() == big.read_bytes()
    assert (dest / "sub" / "b.txt").read_text() == "b"
    assert (dest / "a.txt").stat().st_mtime == 1_000_000
    assert (dest / "a.txt").stat().st_mode & 0o777 == 0o640
    assert not staging_path(dest).exists()


def test_folder_swapped_for_a_link_is_not_followed(tmp_path: Path, dispatched: object) -> None:
    src = _sample(tmp_path / "src")
    outside = _secret(tmp_path)
    uuid = start_transfer("swap", src, processing_config="automated", auto_approve=False)
    shutil.rmtree(src / "sub")  # while the transfer waits, the depositor swaps a folder
    (src / "sub").symlink_to(outside)
    before = tree_digest(tmp_path)
    from custos.transfers import approve_transfer

    approve_transfer(uuid)
    with pytest.raises(InvalidInput, match="objects/sub: symlink"):
        run_transfer(uuid, use_prefect=False)
    with session_scope() as s:
        unit = s.get(Unit, uuid)
        assert unit is not None and unit.status == UnitStatus.FAILED
        folder = Path(unit.current_path or "")
    assert tree_digest(tmp_path) == before  # the source and the outside folder untouched
    copied = [p.name for p in folder.rglob("*")] if folder.exists() else []
    assert "secret.txt" not in copied


def test_copy_refuses_a_fifo_and_reads_nothing_through_links(tmp_path: Path) -> None:
    src = _sample(tmp_path / "src")
    outside = _secret(tmp_path)
    (src / "link-to-secret").symlink_to(outside / "secret.txt")
    dest = tmp_path / "dest"
    copy_in(src, dest)
    assert (dest / "link-to-secret").is_symlink()  # kept as a link for compliance to refuse
    assert os.readlink(dest / "link-to-secret") == str(outside / "secret.txt")
    os.mkfifo(src / "pipe")
    with pytest.raises(InvalidInput, match="pipe: the source holds a FIFO"):
        copy_in(src, tmp_path / "dest2")
    assert not (tmp_path / "dest2").exists()
    assert not staging_path(tmp_path / "dest2").exists()


def test_source_that_became_a_link_is_refused(tmp_path: Path) -> None:
    outside = _secret(tmp_path)
    src = tmp_path / "src"
    src.symlink_to(outside)
    with pytest.raises(InvalidInput, match="symbolic link"):
        copy_in(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_file_swapped_for_a_link_during_the_copy_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _sample(tmp_path / "src")
    outside = _secret(tmp_path)
    real_listdir = os.listdir

    def listdir_then_swap(fd: int) -> list[str]:
        names = real_listdir(fd)
        if "b.txt" in names:  # the race: listed as a file, a link by the time it is opened
            (src / "sub" / "b.txt").unlink()
            (src / "sub" / "b.txt").symlink_to(outside / "secret.txt")
        return names

    monkeypatch.setattr(os, "listdir", listdir_then_swap)
    copy_in(src, tmp_path / "dest")
    monkeypatch.undo()
    copied = tmp_path / "dest" / "sub" / "b.txt"
    assert copied.is_symlink()  # the link itself, for compliance to refuse
    assert all(
        p.is_symlink() or "do not copy me" not in p.read_text()
        for p in (tmp_path / "dest").rglob("*")
        if not p.is_dir()
    )


def test_entry_swapped_between_its_check_and_its_opening_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from custos import confined

    src = _sample(tmp_path / "src")
    outside = _secret(tmp_path)
    real_open = os.open

    def swap_then_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if path == "b.txt" and (src / "sub" / "b.txt").is_file():
            (src / "sub" / "b.txt").unlink()  # the race: checked a file, opened a link
            (src / "sub" / "b.txt").symlink_to(outside / "secret.txt")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(confined.os, "open", swap_then_open)
    with pytest.raises(InvalidInput, match="sub/b.txt is a symbolic link"):
        copy_in(src, tmp_path / "dest")
    monkeypatch.undo()
    assert not (tmp_path / "dest").exists()
    assert not staging_path(tmp_path / "dest").exists()
