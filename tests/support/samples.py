"""Real sample files made at test time: images, documents, sound, virus test strings.

Every maker writes a file of a real format (Pillow for images, a hand-written PDF,
ffmpeg for sound, LibreOffice for ODT) and returns its path, so tests identify,
characterize, normalize and scan what a user's transfer would hold.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

from PIL import Image

#: The EICAR test file, assembled at run time so no file in the repository trips a
#: virus scanner.
EICAR = (
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!" + "$H+H*"
).encode()
#: The body signature of the shipped test database (``custos/data/clamav``) matches it.
CUSTOM_MARKER = b"CUSTOS-TEST-" + b"VIRUS-SIGNATURE"

RGB = tuple[int, int, int]


def png_bytes(color: RGB = (200, 30, 30), size: tuple[int, int] = (16, 16)) -> bytes:
    """A real PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def make_png(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    """A real PNG (fmt/11)."""
    path.write_bytes(png_bytes(size=size))
    return path


def make_jpeg(path: Path, size: tuple[int, int] = (32, 32)) -> Path:
    """A real baseline JPEG, JFIF 1.01 (fmt/43)."""
    Image.new("RGB", size, (10, 120, 200)).save(path, "JPEG", quality=85)
    return path


def make_tiff(path: Path) -> Path:
    """A real uncompressed TIFF (fmt/353)."""
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
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    path.write_bytes(out.getvalue())
    return path


def make_wav(path: Path, seconds: float = 0.5) -> Path:
    """A short sine tone made with ffmpeg's lavfi source."""
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={seconds}",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def make_odt(path: Path) -> Path:
    """An OpenDocument text converted from plain text by LibreOffice."""
    src = path.with_suffix(".txt")
    src.write_text("A letter worth keeping.\n")
    profile = path.parent / ".lo"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "odt",
            "--outdir",
            str(path.parent),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    src.unlink()
    shutil.rmtree(profile, ignore_errors=True)
    return path


def make_sample(root: Path) -> Path:
    """A small folder of real formats: PNG, JPEG, TIFF, PDF, text and a ZIP."""
    root.mkdir(parents=True)
    make_png(root / "image.png", size=(8, 8))
    make_jpeg(root / "photo.jpg", size=(8, 8))
    make_tiff(root / "scan.tif")
    make_pdf(root / "doc.pdf")
    (root / "notes.txt").write_text("hello preservation\n")
    with zipfile.ZipFile(root / "bundle.zip", "w") as z:
        z.writestr("inner/readme.txt", "inside a zip\n")
    return root
