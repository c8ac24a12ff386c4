"""Filename sanitizing on real trees with spaces, accents, bad bytes, collisions."""

from __future__ import annotations

import os
from pathlib import Path

from tasks.sanitize import plan_renames, sanitize_name, sanitize_tree


def _tree(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, files in os.walk(root)
        for n in dirs + files
    )


def test_sanitize_name() -> None:
    assert sanitize_name("Été 2024 (copy).JPG") == "Ete_2024_(copy).JPG"
    assert sanitize_name("naïve façade/ü") == "naive_facade_u"
    assert sanitize_name(b"caf\xe9.txt") == "cafe.txt"  # Latin-1 bytes
    assert sanitize_name("日本語.txt") == "___.txt"
    assert sanitize_name("ﬁle") == "file"  # NFKD compatibility ligature
    assert sanitize_name("..") == "__"
    assert sanitize_name("plain-name_1.txt") == "plain-name_1.txt"


def test_sanitize_tree_bottom_up_with_collisions(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    (root / "Été photos" / "sub dir").mkdir(parents=True)
    (root / "Été photos" / "sub dir" / "a b.txt").write_text("1")
    (root / "Été photos" / "a_b.txt").write_text("keep")  # already safe: keeps its name
    (root / "Été photos" / "a b.txt").write_text("2")  # collides with a_b.txt
    (root / "Été photos" / "a?b.txt").write_text("3")  # collides too
    (root / "ok.txt").write_text("ok")
    with open(os.fsencode(root) + b"/caf\xe9 menu.txt", "wb") as fh:
        fh.write(b"4")
    (root / "empty dir").mkdir()

    planned = plan_renames(root)
    assert _tree(root)[0] == "caf\udce9 menu.txt"  # plan touches nothing
    renames = sanitize_tree(root)
    assert renames == planned
    assert _tree(root) == [
        "Ete_photos",
        "Ete_photos/a_b.txt",
        "Ete_photos/a_b_1.txt",
        "Ete_photos/a_b_2.txt",
        "Ete_photos/sub_dir",
        "Ete_photos/sub_dir/a_b.txt",
        "cafe_menu.txt",
        "empty_dir",
        "ok.txt",
    ]
    assert (root / "Ete_photos" / "a_b.txt").read_text() == "keep"
    by_old = {r.old: r for r in renames}
    assert by_old["caf\udce9 menu.txt"].new == "cafe_menu.txt"
    assert os.fsencode(by_old["caf\udce9 menu.txt"].old) == b"caf\xe9 menu.txt"
    moved = by_old["Été photos/sub dir/a b.txt"]
    assert moved.new == "Ete_photos/sub_dir/a_b.txt" and moved.own_name_changed
    only_moved = by_old["Été photos/a_b.txt"]
    assert only_moved.new == "Ete_photos/a_b.txt" and not only_moved.own_name_changed
    assert by_old["Été photos"].is_dir
    assert "ok.txt" not in by_old
    assert {by_old["Été photos/a b.txt"].new, by_old["Été photos/a?b.txt"].new} == {
        "Ete_photos/a_b_1.txt",
        "Ete_photos/a_b_2.txt",
    }
    assert by_old["empty dir"].event_note == 'Original name="empty dir"; new name="empty_dir"'
    assert sanitize_tree(root) == []  # idempotent


def test_symlinks_renamed_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "loop link").symlink_to(root)
    renames = sanitize_tree(root)
    assert [(r.old, r.new) for r in renames] == [("loop link", "loop_link")]
    assert (root / "loop_link").is_symlink()
