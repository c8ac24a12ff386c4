"""Fixtures for transfer flow tests: sources on disk, a recording dispatch backend."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


class RecordingBackend:
    """Dispatch backend that records submissions instead of running flows."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []

    def submit(self, flow_name: str, parameters: dict[str, Any]) -> str:
        self.submitted.append((flow_name, dict(parameters)))
        return f"recorded-{len(self.submitted)}"


@pytest.fixture()
def dispatched(custos_home: Path) -> Iterator[RecordingBackend]:
    from custos import dispatch

    backend = RecordingBackend()
    dispatch.set_backend(backend)
    yield backend
    dispatch.set_backend(None)


def tree_digest(root: Path) -> dict[bytes, str]:
    """Hash of every entry under root (names as bytes, symlinks by target)."""
    out: dict[bytes, str] = {}
    for dirpath, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out[path] = "link:" + os.fsdecode(os.readlink(path))
            elif os.path.isfile(path):
                out[path] = hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()
            else:
                out[path] = "dir"
    return out


def make_sample(root: Path) -> Path:
    """A small folder of real formats: PDF, PNG, JPEG, TIFF, text, ZIP."""
    import zipfile

    from PIL import Image

    root.mkdir(parents=True)
    img = Image.new("RGB", (8, 8), (200, 10, 10))
    img.save(root / "image.png")
    img.save(root / "photo.jpg")
    img.save(root / "scan.tif")
    img.save(root / "doc.pdf")
    (root / "notes.txt").write_text("hello preservation\n")
    with zipfile.ZipFile(root / "bundle.zip", "w") as z:
        z.writestr("inner/readme.txt", "inside a zip\n")
    return root
