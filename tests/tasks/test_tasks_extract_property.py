"""Property: whatever a package holds, extraction changes nothing outside its destination.

Hypothesis builds random zip, tar (gz, bz2, xz) and 7z packages of files, folders,
symbolic and hard links with random targets (relative, absolute, chained through
other links, ``..``), FIFOs, duplicate names and case or NFC/NFD collisions, and
extracts each into a destination three folders deep inside a sandbox that also
holds sentinel files. After every extraction the whole sandbox outside the
destination is compared with a snapshot taken before (names, types, sizes, modes,
mtimes, contents, link targets); a refusal must be an ``InvalidInput`` whose
message names the package and one of its members; a success must hold regular
files and folders only, each file with the bytes the package gave it, and every
link or special member must be listed as not extracted.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from custos.errors import InvalidInput
from tasks.extract import extract_package

DATE = "2024-01-02T03:04:05"
NFC, NFD = "caf\u00e9", "cafe\u0301"
COMPONENTS = [
    "a",
    "A",
    "b",
    "d1",
    "d2",
    "x.txt",
    NFC,
    NFD,
    "sub",
    "ESCAPED.txt",
    "sentinel.txt",
    "outside",
]
WEIRD = ["..", "."]


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # file, dir, symlink, hardlink, fifo
    target: str = ""
    data: bytes = b""


def _names() -> st.SearchStrategy[str]:
    part = st.sampled_from(COMPONENTS * 8 + WEIRD)
    lead = st.sampled_from([""] * 25 + ["/", "./"])  # absolute names: rare, refused at once
    return st.builds(
        lambda lead, ps: lead + "/".join(ps), lead, st.lists(part, min_size=1, max_size=4)
    )


def _targets(sandbox_hint: str) -> st.SearchStrategy[str]:
    relative = st.builds(
        lambda ups, rest: "../" * ups + "/".join(rest),
        st.integers(0, 6),
        st.lists(st.sampled_from(COMPONENTS + WEIRD), max_size=3),
    )
    absolute = st.sampled_from(
        [
            f"{sandbox_hint}",
            f"{sandbox_hint}/outside",
            "/etc",
            "/tmp",
            f"{sandbox_hint}/sentinel.txt",
            "/",
        ]
    )
    chained = st.sampled_from(["a", "d1/d2", "a/..", "d1/d2/../../..", "b/../../.."])
    return st.one_of(relative, absolute, chained)


SANDBOX_HINT = "@SANDBOX@"  # replaced by the real sandbox path when the package is built


def _entries(kinds: list[str]) -> st.SearchStrategy[list[Entry]]:
    entry = st.builds(
        Entry,
        name=_names(),
        kind=st.sampled_from(kinds),
        target=_targets(SANDBOX_HINT),
        data=st.binary(max_size=48),
    )
    return st.lists(entry, min_size=1, max_size=10)


def _resolve(entry: Entry, sandbox: Path) -> Entry:
    return Entry(
        entry.name, entry.kind, entry.target.replace(SANDBOX_HINT, str(sandbox)), entry.data
    )


# --------------------------------------------------------------------------- builders


def _build_zip(path: Path, entries: list[Entry]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point
        with zipfile.ZipFile(path, "w") as zf:
            for e in entries:
                info = zipfile.ZipInfo(e.name.rstrip("/") + "/" if e.kind == "dir" else e.name)
                info.create_system = 3
                if e.kind == "dir":
                    info.external_attr = (stat.S_IFDIR | 0o755) << 16
                    zf.writestr(info, b"")
                elif e.kind in ("symlink", "hardlink"):
                    info.external_attr = (stat.S_IFLNK | 0o777) << 16
                    zf.writestr(info, e.target)
                elif e.kind == "fifo":
                    info.external_attr = (stat.S_IFIFO | 0o644) << 16
                    zf.writestr(info, b"")
                else:
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    zf.writestr(info, e.data)


def _build_tar(path: Path, entries: list[Entry], mode: str) -> None:
    with tarfile.open(path, mode) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tf.addfile(info)
            elif e.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, e.target
                tf.addfile(info)
            elif e.kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tf.addfile(info)
            else:
                info.size = len(e.data)
                tf.addfile(info, io.BytesIO(e.data))


def _build_7z(path: Path, entries: list[Entry], scratch: Path) -> list[Entry]:
    """7-Zip archives what is on disk: each entry goes into the first stage folder where
    it fits (so a file *beneath* a link is appended after the link), stages are added to
    the archive in turn (a later stage replaces an earlier member of the same name).
    Returns the members the archive holds, as its own listing says."""
    tool = shutil.which("7zz") or shutil.which("7z")
    assert tool
    stages: list[Path] = []
    placed: dict[str, tuple[int, Entry]] = {}
    for e in entries:
        parts = [p for p in e.name.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            continue  # not representable on disk
        for index in range(len(stages) + 1):
            if index == len(stages):
                stages.append(scratch / f"stage{index}")
                stages[-1].mkdir()
            if _place(stages[index], parts, e):
                name = "/".join(parts)
                if placed.get(name, (-1, e))[0] <= index:
                    placed[name] = (index, Entry(name, e.kind, e.target, e.data))
                break
    for stage in stages:
        names = sorted(os.listdir(stage))
        if names:
            subprocess.run(
                [tool, "a", "-bd", "-snl", str(path), *names],
                cwd=stage,
                capture_output=True,
                check=False,
            )
    if not path.exists():
        return []
    listing = subprocess.run(
        [tool, "l", "-slt", "-ba", str(path)], capture_output=True, text=True, check=True
    ).stdout
    held = []
    for block in listing.split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        if "Path" not in fields:
            continue
        attrs = fields.get("Attributes", "")
        unix = attrs.split(" ", 1)[1] if " " in attrs else "-"
        kind = {"d": "dir", "l": "symlink", "p": "fifo"}.get(unix[:1], "file")
        known = placed.get(fields["Path"], (0, Entry(fields["Path"], kind)))[1]
        held.append(Entry(fields["Path"], kind, known.target, known.data))
    return held


def _place(stage: Path, parts: list[str], e: Entry) -> bool:
    here = stage
    for p in parts[:-1]:
        here = here / p
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            return False
    target = stage.joinpath(*parts)
    if os.path.lexists(target):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    if e.kind == "dir":
        target.mkdir()
    elif e.kind in ("symlink", "hardlink"):
        target.symlink_to(e.target or ".")
    elif e.kind == "fifo":
        os.mkfifo(target)
    else:
        target.write_bytes(e.data)
    return True


# --------------------------------------------------------------------------- checking


def _snapshot(root: Path, skip: Path | None) -> dict[str, tuple[object, ...]]:
    """Every entry under root except ``skip``'s subtree and the mtime of skip's parent."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in dirnames + filenames:
            path = here / name
            if skip is not None and (path == skip or skip in path.parents):
                continue
            st_ = os.lstat(path)
            kind = stat.S_IFMT(st_.st_mode)
            extra: object = None
            if stat.S_ISLNK(st_.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISREG(st_.st_mode):
                extra = hashlib.sha256(path.read_bytes()).hexdigest()
            mtime = None if (skip is not None and path == skip.parent) else st_.st_mtime_ns
            out[str(path.relative_to(root))] = (
                kind,
                st_.st_size if kind != stat.S_IFDIR else None,
                st_.st_mode,
                mtime,
                extra,
            )
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
    return out


def _sandbox(base: Path) -> tuple[Path, Path]:
    sandbox = base / "sandbox"
    (sandbox / "outside" / "dir").mkdir(parents=True)
    (sandbox / "sentinel.txt").write_text("sentinel\n")
    (sandbox / "outside" / "secret.txt").write_text("secret\n")
    work = sandbox / "l1" / "l2" / "l3" / "work"
    work.mkdir(parents=True)
    (sandbox / "l1" / "l2" / "near.txt").write_text("near\n")
    return sandbox, work


def _check(pkg: Path, entries: list[Entry], sandbox: Path, work: Path) -> None:
    dest = work / f"{pkg.name}-{DATE}"
    before = _snapshot(sandbox, dest)
    try:
        result = extract_package(pkg, date=DATE)
    except InvalidInput as exc:
        message = str(exc)
        event(f"refused: {(exc.details or {}).get('reason', 'other')}")
        assert message.startswith((pkg.name, "extraction destination")), message
        named = [
            e.name for e in entries if repr(e.name) in message or repr(e.name + "/") in message
        ]
        assert named or "unreadable" in message, message
        assert sorted(os.listdir(work)) == [pkg.name]
        assert _snapshot(sandbox, dest) == before
        return
    event(f"extracted, {min(len(result.not_extracted), 2)}+ members left out")
    assert _snapshot(sandbox, dest) == before
    assert sorted(os.listdir(work)) == sorted([pkg.name, dest.name])
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            mode = os.lstat(Path(dirpath) / name).st_mode
            assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), Path(dirpath) / name
    for e in entries:
        parts = [p for p in e.name.split("/") if p not in ("", ".")]
        if e.kind == "file":
            assert dest.joinpath(*parts).read_bytes() == e.data
    left_out = {n.member for n in result.not_extracted}
    assert {e.name for e in entries if e.kind in ("symlink", "hardlink", "fifo")} <= left_out
    assert not _escaped(sandbox, dest)


def _escaped(sandbox: Path, dest: Path) -> list[Path]:
    return [p for p in sandbox.rglob("*") if p.name == "ESCAPED.txt" and dest not in p.parents]


PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(entries=_entries(["file", "file", "dir", "symlink", "hardlink"]))
def test_random_zip_never_writes_outside(entries: list[Entry]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox, work = _sandbox(Path(tmp))
        real = [_resolve(e, sandbox) for e in entries]
        pkg = work / "random.zip"
        _build_zip(pkg, real)
        _check(pkg, real, sandbox, work)


@PROPERTY
@given(
    entries=_entries(["file", "file", "dir", "symlink", "hardlink", "fifo"]),
    compression=st.sampled_from(["gz", "bz2", "xz"]),
)
def test_random_tar_never_writes_outside(entries: list[Entry], compression: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox, work = _sandbox(Path(tmp))
        real = [_resolve(e, sandbox) for e in entries]
        pkg = work / f"random.tar.{compression}"
        _build_tar(pkg, real, f"w:{compression}")
        _check(pkg, real, sandbox, work)


@settings(
    max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(entries=_entries(["file", "dir", "symlink", "fifo"]))
def test_random_7z_never_writes_outside(entries: list[Entry]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox, work = _sandbox(Path(tmp))
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        real = [_resolve(e, sandbox) for e in entries]
        pkg = work / "random.7z"
        kept = _build_7z(pkg, real, scratch)
        shutil.rmtree(scratch)
        if not pkg.exists():
            return  # nothing representable
        _check(pkg, kept, sandbox, work)


def test_the_chained_link_attack_is_among_what_the_strategies_build(tmp_path: Path) -> None:
    """The issue's reproduction, checked by the same property on every format."""
    attack = [
        Entry("d1/d2/d3/b", "symlink", "../../.."),
        Entry("a", "symlink", "d1/d2/d3/b/../../.."),
        Entry("a/ESCAPED.txt", "file", data=b"escaped"),
    ]
    for kind in ("zip", "tar.gz", "7z"):
        sandbox, work = _sandbox(tmp_path / kind)
        pkg = work / f"attack.{kind}"
        entries = attack
        if kind == "zip":
            _build_zip(pkg, attack)
        elif kind == "tar.gz":
            _build_tar(pkg, attack, "w:gz")
        else:
            scratch = tmp_path / "scratch"
            scratch.mkdir()
            entries = _build_7z(pkg, attack, scratch)
            shutil.rmtree(scratch)
        refusal = (
            r"'a/ESCAPED.txt' needs 'a' to be a folder, but 'a' is a symbolic link"
            r"|members 'a' and 'a' have the same name \(a folder and a symbolic link\)"
        )
        with pytest.raises(InvalidInput, match=refusal):
            _check_strict(pkg, entries, sandbox, work)


def _check_strict(pkg: Path, entries: list[Entry], sandbox: Path, work: Path) -> None:
    dest = work / f"{pkg.name}-{DATE}"
    before = _snapshot(sandbox, dest)
    try:
        extract_package(pkg, date=DATE)
    finally:
        assert _snapshot(sandbox, dest) == before
        assert not _escaped(sandbox, dest)
