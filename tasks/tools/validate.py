"""Format validation with real validators (*validation* PREMIS events).

Archivematica's *Validate formats* runs JHOVE/MediaConch per file and records
``program="JHOVE"; version="1.20"``, outcome ``pass``/``fail`` and a note like
``format="TIFF"; version="5.0"; result="Well-Formed and valid"``. We use the
native checker of each format where installed: ``qpdf --check`` (PDF),
``pngcheck`` (PNG), ``jpeginfo -c`` (JPEG), lxml with a safe parser (XML: no
network, no entity expansion, no DTD loading) and ``ffprobe`` decoding errors
(audio/video). Files with no applicable validator get no result (no event); a
validator that is not installed gives a *skipped* result, recorded as a task and an
event ``skipped: TOOL not installed``.

Example::

    result = validate_file(path, mime="application/pdf")
    if result is not None:
        result.outcome, result.event_detail, result.note
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from custos.errors import ToolFailed
from custos.programs import ToolResult, event_detail, pool_size, run, tool_version, which
from custos.recorder import JobHandle

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"

_BY_MIME = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "text/xml": "xml",
    "application/xml": "xml",
}
_BY_PUID = {"fmt/11": "png", "fmt/12": "png", "fmt/13": "png", "fmt/101": "xml"}
_PDF_PUIDS = frozenset(
    [
        "fmt/14",
        "fmt/15",
        "fmt/16",
        "fmt/17",
        "fmt/18",
        "fmt/19",
        "fmt/20",
        "fmt/95",
        "fmt/276",
        "fmt/354",
        "fmt/476",
        "fmt/477",
        "fmt/478",
        "fmt/479",
        "fmt/480",
        "fmt/1129",
    ]
)
_BY_SUFFIX = {".pdf": "pdf", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".xml": "xml"}
_FORMAT_NAMES = {"pdf": "PDF", "png": "PNG", "jpeg": "JPEG", "xml": "XML", "av": "audio/video"}


@dataclass(frozen=True)
class ValidationResult:
    """One file's validation: outcome ``pass``/``fail`` (``skipped`` when the tool is missing)."""

    path: Path
    kind: str
    program: str
    version: str | None
    outcome: str
    message: str = ""

    @property
    def event_detail(self) -> str:
        """``program="qpdf"; version="11.3.0"``."""
        return event_detail(self.program, self.version)

    @property
    def note(self) -> str:
        """eventOutcomeDetailNote, Archivematica style (``skipped: TOOL not installed``
        when the validator is missing)."""
        if self.outcome == SKIPPED:
            return f"skipped: {self.program} not installed"
        result = {PASS: "Well-Formed and valid", FAIL: "Not well-formed or invalid"}.get(
            self.outcome, "Not validated"
        )
        note = f'format="{_FORMAT_NAMES[self.kind]}"; result="{result}"'
        return f'{note}; message="{self.message}"' if self.message else note


def record_validation(job: JobHandle, row: Any, result: ValidationResult) -> None:
    """One validated file's task and *validation* event (also when the validator is
    missing: the event then says ``skipped: TOOL not installed``)."""
    job.task(
        file_uuid=row.uuid,
        file_name=row.current_path,
        arguments=result.program,
        exit_code=0 if result.outcome != FAIL else 1,
        stdout=result.note,
    )
    job.event(
        file_uuid=row.uuid,
        event_type="validation",
        detail=result.event_detail,
        outcome=result.outcome,
        outcome_note=result.note,
    )


def validator_kind(
    path: str | Path, mime: str | None = None, puid: str | None = None
) -> str | None:
    """Which validator applies: ``pdf``, ``png``, ``jpeg``, ``xml``, ``av`` or None."""
    if mime in _BY_MIME:
        return _BY_MIME[mime]
    if mime and mime.split("/", 1)[0] in {"audio", "video"}:
        return "av"
    if puid in _BY_PUID:
        return _BY_PUID[puid]
    if puid in _PDF_PUIDS:
        return "pdf"
    if puid in {"fmt/41", "fmt/42", "fmt/43", "fmt/44"}:
        return "jpeg"
    if mime is None and puid is None:
        return _BY_SUFFIX.get(Path(path).suffix.lower())
    return None


def _tail(result: ToolResult, limit: int = 300) -> str:
    text = (result.stdout + "\n" + result.stderr).strip().replace('"', "'")
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[-limit:]


def _tool_check(
    kind: str,
    program: str,
    argv: list[str],
    path: Path,
    ok: Callable[[ToolResult], bool],
    timeout: float,
) -> ValidationResult:
    if which(program) is None:
        return ValidationResult(path, kind, program, None, SKIPPED, f"{program} is not installed")
    version = tool_version(program)
    try:
        result = run(argv, timeout=timeout)
    except ToolFailed as exc:
        return ValidationResult(path, kind, program, version, FAIL, str(exc))
    outcome = PASS if ok(result) else FAIL
    message = "" if outcome == PASS else _tail(result)
    return ValidationResult(path, kind, program, version, outcome, message)


def _jpeginfo_ok(result: ToolResult) -> bool:
    return result.returncode == 0 and result.stdout.strip().rstrip("]").endswith("OK")


def _validate_xml(path: Path) -> ValidationResult:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False
    )
    version = ".".join(str(n) for n in etree.LXML_VERSION[:3])
    try:
        etree.parse(str(path), parser)
    except etree.XMLSyntaxError as exc:
        return ValidationResult(path, "xml", "lxml", version, FAIL, str(exc).replace('"', "'"))
    except OSError as exc:
        return ValidationResult(path, "xml", "lxml", version, FAIL, str(exc))
    return ValidationResult(path, "xml", "lxml", version, PASS)


def validate_file(
    path: str | Path,
    *,
    mime: str | None = None,
    puid: str | None = None,
    timeout: float = 300.0,
) -> ValidationResult | None:
    """Validate one file with the validator for its format, or return None if none applies."""
    target = Path(path).absolute()
    kind = validator_kind(target, mime, puid)
    if kind is None:
        return None
    if kind == "xml":
        return _validate_xml(target)
    if kind == "pdf":
        # qpdf: 0 = fine, 3 = warnings only (still usable), 2 = errors.
        return _tool_check(
            kind,
            "qpdf",
            ["qpdf", "--check", str(target)],
            target,
            lambda r: r.returncode in (0, 3),
            timeout,
        )
    if kind == "png":
        return _tool_check(
            kind,
            "pngcheck",
            ["pngcheck", str(target)],
            target,
            lambda r: r.returncode == 0 and r.stdout.startswith("OK"),
            timeout,
        )
    if kind == "jpeg":
        # jpeginfo 1.7 ends a good line with "OK" (older versions: "[OK]").
        return _tool_check(
            kind, "jpeginfo", ["jpeginfo", "-c", str(target)], target, _jpeginfo_ok, timeout
        )
    # Audio/video: decode everything and fail on any decoder error.
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(target), "-f", "null", "-"]
    return _tool_check(
        kind, "ffmpeg", argv, target, lambda r: r.returncode == 0 and not r.stderr.strip(), timeout
    )


def validate_files(
    items: Iterable[tuple[str | Path, str | None, str | None]], *, workers: int = 2
) -> list[ValidationResult | None]:
    """:func:`validate_file` for many ``(path, mime, puid)`` triples, up to ``workers``
    validators at once (never more than the cores); results are in input order."""
    triples = list(items)
    with ThreadPoolExecutor(pool_size(workers), thread_name_prefix="validate") as pool:
        return list(pool.map(lambda t: validate_file(t[0], mime=t[1], puid=t[2]), triples))
