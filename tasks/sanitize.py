"""Make file and directory names safe, as Archivematica's *Change filenames* does.

Tools downstream (shells, Windows, METS ``xlink:href``, other systems' unzip)
choke on spaces, accents and bytes that are not UTF-8. Names are reduced to
``A-Z a-z 0-9 - _ . ( )``: accents are transliterated (NFKD, combining marks
dropped: ``café`` -> ``cafe``), anything else becomes ``_``. Names that are not
valid UTF-8 are read as Latin-1 first so ``caf\\xe9`` also becomes ``cafe``.
Siblings never collide after renaming (``_1``, ``_2`` ... before the
extension), and renaming runs bottom-up so every path stays valid. The returned
list of renames keeps the original names for the *filename change* events and
the PREMIS ``originalName``.

Example::

    for r in sanitize_tree(objects):
        r.old, r.new  # relative paths, e.g. "Été/a b.txt" -> "Ete/a_b.txt"
"""

from __future__ import annotations

import json
import os
import stat
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from custos.faults import fault

VALID_CHARS = frozenset(string.ascii_letters + string.digits + "-_.()")
REPLACEMENT = "_"


@dataclass(frozen=True)
class Rename:
    """One entry whose path changed; paths are relative to the sanitized root.

    ``old`` is the original name decoded with ``surrogateescape`` (so
    ``os.fsencode(old)`` gives the original bytes back). ``own_name_changed`` is
    False for entries that only moved because a parent directory was renamed.
    """

    old: str
    new: str
    is_dir: bool
    own_name_changed: bool

    @property
    def event_note(self) -> str:
        """eventOutcomeDetailNote for the *filename change* event."""
        return f'Original name="{self.old}"; new name="{self.new}"'


def _decode(name: bytes) -> str:
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        return name.decode("latin-1")


def sanitize_name(name: str | bytes) -> str:
    """Return the safe form of one name (never empty, never ``.``/``..``)."""
    text = _decode(name) if isinstance(name, bytes) else _decode(os.fsencode(name))
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    safe = "".join(c if c in VALID_CHARS else REPLACEMENT for c in stripped)
    if safe in ("", ".", ".."):
        safe = REPLACEMENT * max(1, len(safe))
    return safe


def _with_suffix(name: str, n: int) -> str:
    stem, dot, ext = name.rpartition(".")
    if dot and stem:  # "a.txt" -> "a_1.txt"; ".hidden" and "noext" -> suffix at the end
        return f"{stem}_{n}.{ext}"
    return f"{name}_{n}"


def _plan_directory(names: list[bytes]) -> dict[bytes, str]:
    """New name for every child of one directory, unique among the siblings."""
    plan: dict[bytes, str] = {}
    taken: set[str] = set()
    wanted = {n: sanitize_name(n) for n in names}
    # Names already safe keep them; only changed names ever get a suffix.
    for n in sorted(names):
        if os.fsencode(wanted[n]) == n:
            plan[n] = wanted[n]
            taken.add(wanted[n])
    for n in sorted(names):
        if n in plan:
            continue
        candidate, i = wanted[n], 0
        while candidate in taken:
            i += 1
            candidate = _with_suffix(wanted[n], i)
        plan[n] = candidate
        taken.add(candidate)
    return plan


def plan_renames(root: str | Path) -> list[Rename]:
    """Compute (without touching anything) the renames :func:`sanitize_tree` would do."""
    return [r for r, _ in _plan(root)]


def _plan(root: str | Path) -> list[tuple[Rename, tuple[bytes, bytes]]]:
    top = os.fsencode(root)
    out: list[tuple[Rename, tuple[bytes, bytes]]] = []
    # stack of (old absolute dir, old relative dir, new relative dir)
    stack: list[tuple[bytes, bytes, bytes]] = [(top, b"", b"")]
    while stack:
        old_dir, old_rel, new_rel = stack.pop()
        with os.scandir(old_dir) as it:
            entries = {e.name: e for e in it}
        plan = _plan_directory(list(entries))
        for name in sorted(entries):
            entry = entries[name]
            new_name = os.fsencode(plan[name])
            child_old_rel = os.path.join(old_rel, name) if old_rel else name
            child_new_rel = os.path.join(new_rel, new_name) if new_rel else new_name
            is_dir = stat.S_ISDIR(entry.stat(follow_symlinks=False).st_mode)
            if child_old_rel != child_new_rel:
                rename = Rename(
                    os.fsdecode(child_old_rel),
                    os.fsdecode(child_new_rel),
                    is_dir,
                    own_name_changed=new_name != name,
                )
                out.append((rename, (os.path.join(old_dir, name), new_name)))
            if is_dir:
                stack.append((os.path.join(old_dir, name), child_old_rel, child_new_rel))
    return out


def sanitize_tree(root: str | Path, journal: Path | None = None) -> list[Rename]:
    """Rename every file and directory under ``root`` (not ``root`` itself) to safe names.

    Symlinks are renamed like files and never followed. Returns every entry
    whose relative path changed, parents before children.

    With ``journal`` the plan is first written there (whole, by one rename) and a
    crash part-way is finished by calling again: the journal's plan is replayed,
    skipping the entries already renamed, so the same renames come back (the
    caller deletes the journal once it recorded them).
    """
    planned = _load_journal(journal) if journal is not None else None
    if planned is None:
        planned = _plan(root)
        if journal is not None:
            _write_journal(journal, planned)
    # Deepest first: a child is renamed while its parent still has its old name.
    for rename, (old_abs, new_name) in sorted(
        planned, key=lambda item: item[1][0].count(b"/"), reverse=True
    ):
        if rename.own_name_changed and os.path.lexists(old_abs):
            os.rename(old_abs, os.path.join(os.path.dirname(old_abs), new_name))
            fault("sanitize:renaming")
    return [r for r, _ in planned]


def _write_journal(path: Path, planned: list[tuple[Rename, tuple[bytes, bytes]]]) -> None:
    entries = [
        {
            "old": r.old,
            "new": r.new,
            "is_dir": r.is_dir,
            "own": r.own_name_changed,
            "abs": os.fsdecode(old_abs),
            "name": os.fsdecode(new_name),
        }
        for r, (old_abs, new_name) in planned
    ]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entries))  # lone surrogates (non-UTF-8 bytes) escaped
    os.replace(tmp, path)


def _load_journal(path: Path) -> list[tuple[Rename, tuple[bytes, bytes]]] | None:
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return [
        (
            Rename(e["old"], e["new"], e["is_dir"], e["own"]),
            (os.fsencode(e["abs"]), os.fsencode(e["name"])),
        )
        for e in entries
    ]
