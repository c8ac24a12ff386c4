"""Optical character recognition with Tesseract (*Transcribe SIP contents*).

Archivematica's FPR has one *transcription* rule, Tesseract, for the raster image
formats Tesseract reads; other images (JPEG 2000, say) are transcribed from their
preservation derivative when that is a format Tesseract reads. The text goes to
``objects/metadata/OCRfiles/<file name>-<file uuid>.txt`` (``%fileName%`` is the name
without its extension).

Example::

    if ocr_applies(row.mime_type, row.current_path):
        result = transcribe(path, into=text_path)
        result.ok, result.event_detail, result.error
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from custos.errors import ToolFailed
from custos.programs import event_detail, run, tool_version, which

PROGRAM = "tesseract"
#: The raster formats Tesseract (with Leptonica) reads.
OCR_MIMES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/tiff",
        "image/bmp",
        "image/x-ms-bmp",
        "image/gif",
        "image/webp",
        "image/x-portable-pixmap",
        "image/x-portable-graymap",
        "image/x-portable-bitmap",
    }
)
OCR_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pnm", ".pgm", ".ppm"}
)


def ocr_applies(mime: str | None, path: str) -> bool:
    """Whether Tesseract reads this file (by MIME type, else by extension)."""
    if mime:
        return mime in OCR_MIMES
    return Path(path).suffix.lower() in OCR_SUFFIXES


def text_path(objects_rel: str, file_uuid: str) -> str:
    """Where the text of ``objects/...`` goes, relative to the SIP (Archivematica's name)."""
    stem = Path(objects_rel).stem
    return f"objects/metadata/OCRfiles/{stem}-{file_uuid}.txt"


@dataclass(frozen=True)
class OcrResult:
    """One image's transcription: ``ok`` when the text file was written."""

    ok: bool
    version: str | None
    error: str = ""

    @property
    def event_detail(self) -> str:
        """``program="tesseract"; version="5.3.0"``."""
        return event_detail(PROGRAM, self.version)


def installed() -> bool:
    """Whether Tesseract can be run."""
    return which(PROGRAM) is not None


def transcribe(image: Path, *, into: Path, timeout: float = 300.0) -> OcrResult:
    """OCR ``image`` into the text file ``into`` (written whole, or not at all)."""
    version = tool_version(PROGRAM)
    if not installed():
        return OcrResult(False, None, "tesseract is not installed")
    try:
        result = run([PROGRAM, str(image.absolute()), "stdout"], timeout=timeout)
    except ToolFailed as exc:
        return OcrResult(False, version, str(exc))
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-500:]
        return OcrResult(False, version, f"exit {result.returncode}: {tail}")
    into.parent.mkdir(parents=True, exist_ok=True)
    partial = into.with_name(f".partial-{into.name}")
    partial.write_text(result.stdout, encoding="utf-8")
    partial.replace(into)
    return OcrResult(True, version)
