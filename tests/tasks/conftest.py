"""Fixture builders for task tests: real files made at test time on tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.samples import (
    CUSTOM_MARKER,
    EICAR,
    make_jpeg,
    make_pdf,
    make_png,
    make_tiff,
    make_wav,
)


class Maker:
    """Makes real sample files under one directory (``make.png("a.png")``)."""

    eicar = EICAR
    marker = CUSTOM_MARKER

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def bytes(self, name: str, data: bytes) -> Path:
        target = self.path(name)
        target.write_bytes(data)
        return target

    def png(self, name: str = "image.png") -> Path:
        return make_png(self.path(name))

    def jpeg(self, name: str = "image.jpg") -> Path:
        return make_jpeg(self.path(name))

    def tiff(self, name: str = "image.tif") -> Path:
        return make_tiff(self.path(name))

    def pdf(self, name: str = "doc.pdf") -> Path:
        return make_pdf(self.path(name))

    def wav(self, name: str = "tone.wav") -> Path:
        return make_wav(self.path(name))


@pytest.fixture
def make(tmp_path: Path) -> Maker:
    """Sample-file factory rooted at ``tmp_path / "files"``."""
    return Maker(tmp_path / "files")


@pytest.fixture
def transfer(tmp_path: Path) -> Callable[[dict[str, bytes]], Path]:
    """Build a transfer dir ``<tmp>/t`` with ``objects/`` files from a {relpath: bytes} map."""

    def build(files: dict[str, bytes]) -> Path:
        root = tmp_path / "t"
        (root / "objects").mkdir(parents=True, exist_ok=True)
        (root / "metadata").mkdir(exist_ok=True)
        for rel, data in files.items():
            target = root / "objects" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return root

    return build
