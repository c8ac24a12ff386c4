"""Build the AIP as a BagIt bag, reusing the checksums the transfer already computed.

Archivematica's *Prepare AIP* copies ``logs/``, ``objects/``, ``README.html``,
``thumbnails/``, ``metadata/`` and ``METS.<sip uuid>.xml`` from the SIP into
``<name>-<sip uuid>/data/`` and lets bagit-python hash everything again. Hashing
dominates bagging time (about 1 s per GiB), and the transfer already hashed every
unchanged file, so :func:`build_aip_bag` takes those sha256 digests and hashes only
files without one (the METS, logs, new derivatives). Payload is hard-linked when the
SIP and the bag share a filesystem. Empty directories are kept.

The resulting bag is standard (BagIt 0.97, sha256 manifest and tag manifest,
``External-Identifier``, ``Payload-Oxum``, ``Bagging-Date``, ``Bag-Software-Agent``);
:func:`custos.stored_aips.verify_aip_bag` re-hashes every file and checks oxum and tag
manifest, so a wrong precomputed digest is caught before the AIP is stored.

Usage::

    result = build_aip_bag(sip_dir, work_dir, name="my-aip", sip_uuid=sip_uuid,
                           checksums={"objects/a.txt": "<sha256>"})
    report = verify_aip_bag(result.path, sip_uuid=sip_uuid)
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from custos import __version__
from custos.errors import InvalidInput, StorageError
from custos.faults import fault
from custos.fixity import hash_files
from custos.stored_aips import ALGORITHM

#: SIP entries that go into an AIP's payload (anything else in the SIP dir is work state).
PAYLOAD_ENTRIES = ("logs", "objects", "README.html", "thumbnails", "metadata")
BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"


@dataclass(frozen=True)
class BagResult:
    """The bag built: where it is, its Payload-Oxum and how many files were hashed."""

    path: Path
    payload_oxum: str
    files: int
    hashed: int
    reused: int
    linked: int


def software_agent() -> str:
    """``Bag-Software-Agent`` value: Custos and its version."""
    return f"Custos {__version__}"


def _encode(path: str) -> str:
    # Exactly bagit-python's escaping, so its reader round-trips odd names.
    return path.replace("\r", "%0D").replace("\n", "%0A")


def _link_or_copy(src: Path, dst: Path, state: dict[str, bool]) -> bool:
    """Hard-link ``src`` to ``dst``; copy when linking is impossible. True if linked."""
    if state.get("link", True):
        try:
            os.link(src, dst)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            state["link"] = False  # other filesystem: stop trying for every file
    shutil.copy2(src, dst)
    return False


def _payload_sources(sip_dir: Path, sip_uuid: UUID) -> list[str]:
    names = [*PAYLOAD_ENTRIES, f"METS.{sip_uuid}.xml"]
    return [n for n in names if (sip_dir / n).exists()]


def _copy_payload(sip_dir: Path, data: Path, entries: list[str]) -> tuple[list[str], int]:
    """Copy entries into ``data``; returns payload files (relative, POSIX) and links made."""
    files: list[str] = []
    linked = 0
    state: dict[str, bool] = {}
    for entry in entries:
        src = sip_dir / entry
        if src.is_symlink():
            raise InvalidInput(f"symbolic link in the SIP: {entry}", {"path": entry})
        if src.is_file():
            linked += _link_or_copy(src, data / entry, state)
            files.append(entry)
            continue
        for dirpath, dirnames, filenames in os.walk(src):
            rel = Path(dirpath).relative_to(sip_dir)
            (data / rel).mkdir(exist_ok=True)
            for name in sorted(dirnames):
                if (Path(dirpath) / name).is_symlink():
                    raise InvalidInput(
                        f"symbolic link in the SIP: {rel / name}", {"path": str(rel / name)}
                    )
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.is_symlink():
                    raise InvalidInput(
                        f"symbolic link in the SIP: {rel / name}", {"path": str(rel / name)}
                    )
                linked += _link_or_copy(path, data / rel / name, state)
                files.append((rel / name).as_posix())
                fault("prepare-aip:bagging")
    return files, linked


def _digest(path: Path) -> str:
    return hash_files([path], (ALGORITHM,))[path].digests[ALGORITHM]


def build_aip_bag(
    sip_dir: Path,
    dest_parent: Path,
    *,
    name: str,
    sip_uuid: UUID,
    checksums: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    workers: int | None = None,
) -> BagResult:
    """Build ``dest_parent/<name>-<sip uuid>/`` as a BagIt bag from ``sip_dir``.

    ``checksums`` maps payload paths relative to the SIP dir (``objects/a.txt``) to
    their known sha256; those files are not read again. The destination must not
    exist: an AIP bag is built once, into a fresh working directory.

    Raises:
        InvalidInput: the SIP has no ``objects/`` or contains symbolic links.
        StorageError: the destination exists or cannot be written.
    """
    sip_dir = Path(sip_dir)
    if not (sip_dir / "objects").is_dir():
        raise InvalidInput(f"SIP has no objects/ directory: {sip_dir.name}", {"path": "objects"})
    bag = Path(dest_parent) / f"{name}-{sip_uuid}"
    data = bag / "data"
    try:
        data.mkdir(parents=True, exist_ok=False)
    except FileExistsError as exc:
        raise StorageError(f"AIP bag already exists: {bag}") from exc
    except OSError as exc:
        raise StorageError(f"cannot create AIP bag {bag}: {exc}") from exc
    try:
        files, linked = _copy_payload(sip_dir, data, _payload_sources(sip_dir, sip_uuid))
        known = dict(checksums or {})
        missing = [data / f for f in files if f not in known]
        computed = hash_files(missing, (ALGORITHM,), workers=workers)
        digests = {f: known.get(f) or computed[data / f].digests[ALGORITHM] for f in files}
        total = sum((data / f).stat().st_size for f in files)
        oxum = f"{total}.{len(files)}"
        _write_tag_files(bag, digests, oxum, sip_uuid, now())
    except OSError as exc:
        raise StorageError(f"cannot build AIP bag {bag}: {exc}") from exc
    return BagResult(bag, oxum, len(files), len(missing), len(files) - len(missing), linked)


def _write_tag_files(
    bag: Path, digests: Mapping[str, str], oxum: str, sip_uuid: UUID, when: datetime
) -> None:
    manifest = "".join(f"{digests[f]}  {_encode('data/' + f)}\n" for f in sorted(digests))
    info = {
        "Bag-Software-Agent": software_agent(),
        "Bagging-Date": when.date().isoformat(),
        "External-Identifier": str(sip_uuid),
        "Payload-Oxum": oxum,
    }
    tags = {
        "bagit.txt": BAGIT_TXT,
        "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in sorted(info.items())),
        f"manifest-{ALGORITHM}.txt": manifest,
    }
    for tag_name, text in tags.items():
        (bag / tag_name).write_text(text, encoding="utf-8", newline="\n")
    tag_manifest = "".join(f"{_digest(bag / t)}  {t}\n" for t in sorted(tags))
    (bag / f"tagmanifest-{ALGORITHM}.txt").write_text(tag_manifest, encoding="utf-8", newline="\n")
