"""Fixture builders for task tests: real files made at test time on tmp_path."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

#: The EICAR test string, assembled at run time so no file in the repository
#: trips a virus scanner.
EICAR = (
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
    + "EICAR-STANDARD-"
    + "ANTIVIRUS-TEST-FILE!"
    + "$H+H*"
).encode()
CUSTOM_MARKER = b"CUSTOS-TEST-" + b"VIRUS-SIGNATURE"


def require(tool: str) -> str:
    """Skip the test when a Debian tool is not installed."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed")
    return path


def make_png(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    """A real PNG made with Pillow."""
    from PIL import Image

    Image.new("RGB", size, (200, 30, 30)).save(path, "PNG")
    return path


def make_jpeg(path: Path, size: tuple[int, int] = (32, 32)) -> Path:
    """A real baseline JPEG made with Pillow."""
    from PIL import Image

    Image.new("RGB", size, (10, 120, 200)).save(path, "JPEG", quality=85)
    return path


def make_tiff(path: Path) -> Path:
    """A real uncompressed TIFF made with Pillow."""
    from PIL import Image

    Image.new("RGB", (8, 8), (0, 255, 0)).save(path, "TIFF")
    return path


def make_pdf(path: Path, text: str = "Hello Custos") -> Path:
    """A minimal, valid PDF 1.4 written by hand with a correct xref table."""
    content = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, xref)
    )
    path.write_bytes(out.getvalue())
    return path


def make_wav(path: Path, seconds: float = 0.5) -> Path:
    """A short sine tone made with ffmpeg's lavfi source."""
    require("ffmpeg")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}", str(path)],
        check=True,
        timeout=60,
    )
    return path


def corrupt_png(path: Path) -> Path:
    """Flip a byte inside the IDAT data so the CRC no longer matches."""
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


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

    @staticmethod
    def require(tool: str) -> str:
        """Skip the test when a Debian tool is not installed."""
        return require(tool)

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
