"""``metadata/file_labels.csv``: a label per original file, for the physical structMap.

Archivematica's *Load labels from metadata/file_labels.csv* reads two columns and no
header: the file's path inside ``objects/`` and its label::

    letters/first.txt,First letter (1921)
    photo.jpg,"Portrait, studio"

The label becomes the ``LABEL`` of the file's ``div`` in the AIP METS' physical
structMap (the file name otherwise); access systems show it as the title. A path
already starting with ``objects/`` is accepted too, and a first row
``filename,label`` is taken as a header. Unlike Archivematica, which ignores rows it
cannot match, a row naming no original file fails the job, every such row listed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from custos.errors import InvalidInput


def load_file_labels(path: Path, originals: Iterable[str]) -> dict[str, str]:
    """Labels by original path (``objects/...``, as the transfer received it).

    Raises:
        InvalidInput: not UTF-8 CSV, a row without two cells, or a path that is not an
            original file (``details`` lists every problem with its line).
    """
    known = set(originals)
    try:
        text = path.read_bytes().decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{path.name} cannot be read as UTF-8 CSV: {exc}") from exc
    labels: dict[str, str] = {}
    problems: list[str] = []
    for line, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if line == 1 and [c.lower() for c in cells[:2]] == ["filename", "label"]:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            problems.append(f"line {line}: needs a path and a label")
            continue
        rel = cells[0].strip("/")
        target = f"objects/{rel}"
        if target not in known and rel in known:
            target = rel
        if target not in known:
            problems.append(f"line {line}: {cells[0]} is not an original file")
            continue
        labels[target] = cells[1]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"{path.name}: {problems[0]}{more}", details=problems)
    return labels
