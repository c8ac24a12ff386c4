"""The failure note of a watched folder is written without following links."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from custos.models import LocationPurpose
from custos.storage import default_location
from flows.watch import scan_watched


@pytest.fixture()
def watched(custos_home: Path, dispatched: object) -> Iterator[Path]:
    folder = Path(default_location(LocationPurpose.TRANSFER_SOURCE).path) / "watched"
    yield folder
    for path in folder.iterdir():
        if path.name.startswith((".bad-", "bad-")):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def test_a_link_planted_at_the_note_name_is_replaced_not_followed(
    watched: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me\n")
    name = f"bad-{tmp_path.name}.zip"
    # The depositor drops a broken package and, beside it, links the note's name to a
    # file of the service's (and another to a file that does not exist yet).
    (watched / name).write_bytes(b"not a zip")
    (watched / f".{name}.failed").symlink_to(victim)
    other = f"bad-{tmp_path.name}-2.zip"
    (watched / other).write_bytes(b"not a zip either")
    (watched / f".{other}.failed").symlink_to(outside / "created.txt")

    result = scan_watched(now=time.time() + 3600)

    assert sorted(result.failed) == sorted([name, other])
    assert victim.read_text() == "keep me\n"  # not written through the link
    assert not (outside / "created.txt").exists()  # nor created at its target
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    for item in (name, other):
        note = watched / f".{item}.failed"
        assert not note.is_symlink() and note.is_file()
        assert note.read_text().startswith(f"{item}: transfer not started: ")
    assert not list(watched.glob(".custos-note-*"))  # no temporary left behind


def test_a_folder_at_the_note_name_leaves_the_note_in_the_log_only(
    watched: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"bad-{tmp_path.name}.zip"
    (watched / name).write_bytes(b"not a zip")
    (watched / f".{name}.failed").mkdir()
    result = scan_watched(now=time.time() + 3600)
    assert result.failed == [name]
    assert list((watched / f".{name}.failed").iterdir()) == []
    assert f"failure note .{name}.failed not written" in caplog.text
    assert not list(watched.glob(".custos-note-*"))
