"""``metadata/mets_structmap.xml``: a user's own structural map, carried into the AIP METS.

Archivematica accepts a METS document holding one ``structMap`` (typically
``TYPE="logical"``: a book's chapters and pages, a recording's segments)::

    <mets:mets xmlns:mets="http://www.loc.gov/METS/">
      <mets:structMap TYPE="logical" LABEL="Book">
        <mets:div TYPE="book" LABEL="A book">
          <mets:div TYPE="page" LABEL="Cover">
            <mets:fptr FILEID="cover" CONTENTIDS="objects/cover.jpg"/>
          </mets:div>
        </mets:div>
      </mets:structMap>
    </mets:mets>

*Verify mets_structmap.xml compliance* validates it against mets.xsd; each ``fptr`` (and
``area``) names its file by ``CONTENTIDS``, a path inside the transfer. *Generate AIP
METS* appends the structMap to the AIP METS with each ``FILEID`` replaced by the AIP
file's ``file-<uuid>``, as Archivematica's ``include_custom_structmap`` does. Custos
checks at transfer what Archivematica only finds when the METS is written: every
pointer must carry ``CONTENTIDS`` naming a file that exists (the transfer fails naming
the missing ones), and the divs may not point (``DMDID``, ``ADMID``) at sections the
AIP METS will not have. Parsed without entities or network access.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from lxml import etree

from custos.errors import InvalidInput
from custos.mets.ns import mets, parse_supplied
from custos.mets.validate import load_schema

NAME = "mets_structmap.xml"
_POINTERS = (mets("fptr"), mets("area"))


def read_structmap(path: Path) -> etree._Element:
    """The document's one ``structMap``, schema-valid and with usable pointers.

    Raises:
        InvalidInput: not well-formed, not valid METS, not exactly one structMap, a
            pointer without CONTENTIDS or a path leaving the package, or a DMDID/ADMID.
    """
    tree = parse_supplied(path)
    schema = load_schema("mets.xsd")
    if not schema.validate(tree):
        errors = [f"line {e.line}: {e.message}" for e in schema.error_log]
        raise InvalidInput(f"{NAME} does not validate against mets.xsd: {errors[0]}", errors)
    maps = tree.getroot().findall(mets("structMap"))
    if len(maps) != 1:
        raise InvalidInput(f"{NAME} must hold exactly one mets:structMap (found {len(maps)})")
    structmap = maps[0]
    problems: list[str] = []
    for el in structmap.iter():
        for attr in ("DMDID", "ADMID"):
            if el.get(attr):
                problems.append(
                    f"line {el.sourceline}: {attr} points at a section the AIP METS will not have"
                )
        if el.tag in _POINTERS:
            target = (el.get("CONTENTIDS") or "").strip()
            if not target:
                problems.append(
                    f"line {el.sourceline}: {etree.QName(el).localname} without CONTENTIDS"
                )
            elif _relative(target) is None:
                problems.append(
                    f"line {el.sourceline}: CONTENTIDS {target!r} is not a path inside objects/"
                )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"{NAME}: {problems[0]}{more}", problems)
    return structmap


def _relative(target: str) -> str | None:
    p = PurePosixPath(target.strip("/"))
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] != "objects":
        return None
    return p.as_posix()


def content_ids(structmap: etree._Element) -> list[str]:
    """Every file the structMap points at (``objects/...``), in document order, once."""
    out: dict[str, None] = {}
    for el in structmap.iter(*_POINTERS):
        out[_relative(el.get("CONTENTIDS", "")) or ""] = None
    return list(out)


def check_structmap(path: Path, exists: Callable[[str], bool]) -> int:
    """*Verify mets_structmap.xml compliance*: valid, and every file it names exists.

    Returns the number of files it points at.

    Raises:
        InvalidInput: as :func:`read_structmap`, or naming every missing file.
    """
    targets = content_ids(read_structmap(path))
    missing = [t for t in targets if not exists(t)]
    if missing:
        raise InvalidInput(
            f"{NAME} points at files that are not in the transfer: " + ", ".join(missing), missing
        )
    return len(targets)


def resolve_structmap(path: Path, file_ids: dict[str, str], renamed: dict[str, str]) -> bytes:
    """The structMap with each pointer's FILEID set to the AIP file's ID (``file-<uuid>``).

    ``file_ids`` maps AIP paths to METS file IDs; ``renamed`` maps the transfer's paths
    (what CONTENTIDS names) to AIP paths.

    Raises:
        InvalidInput: as :func:`read_structmap`, or naming the files the AIP lacks.
    """
    structmap = read_structmap(path)
    missing: list[str] = []
    for el in structmap.iter(*_POINTERS):
        target = _relative(el.get("CONTENTIDS", "")) or ""
        fid = file_ids.get(renamed.get(target, target))
        if fid is None:
            missing.append(target)
        else:
            el.set("FILEID", fid)
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        raise InvalidInput(f"{NAME} points at files that are not in the AIP: {names}", missing)
    return etree.tostring(structmap, with_tail=False)
