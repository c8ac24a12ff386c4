"""Views of a capture other than replay: its recorded resources, its saved DOM as text,
and the files of its outputs (screenshot, PDF, DOM, provenance), as ArchiveBox offers them.

::

    resources(capture)          # every response/resource record of the WARC
    visible_text(html)          # the text a reader sees in a page (no scripts, styles)
    output_file(s, capture, "screenshot")   # Path of a succeeded output, or None
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from sqlmodel import Session, col, select
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from custos.errors import NotFound, StorageError
from custos.models import ArchiveResult, Capture, ResultStatus

#: View name -> (extractor of the output, media type it is served as).
OUTPUT_VIEWS: dict[str, tuple[str, str]] = {
    "screenshot": ("screenshot", "image/png"),
    "pdf": ("pdf", "application/pdf"),
    "dom": ("dom", "text/html; charset=utf-8"),
    "provenance": ("headers", "text/html; charset=utf-8"),
}
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe"})
_BLOCK = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}
)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Resource:
    """One recorded resource: what a reader of the WARC would list."""

    url: str
    status: int | None
    mime: str
    size: int
    record_type: str
    date: str


def resources(capture: Capture) -> list[Resource]:
    """Every ``response``, ``resource`` and ``revisit`` record of the capture's WARC."""
    if not capture.warc_path or not Path(capture.warc_path).is_file():
        raise NotFound("This capture has no WARC.")
    return list(_records(Path(capture.warc_path)))


def _records(path: Path) -> Iterator[Resource]:
    try:
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type not in ("response", "resource", "revisit"):
                    continue
                status: int | None = None
                mime = record.rec_headers.get_header("Content-Type") or ""
                if record.http_headers is not None:
                    code = record.http_headers.get_statuscode()
                    status = int(code) if code and code.isdigit() else None
                    mime = record.http_headers.get_header("Content-Type") or ""
                size = 0
                while chunk := record.raw_stream.read(CHUNK):
                    size += len(chunk)
                yield Resource(
                    url=record.rec_headers.get_header("WARC-Target-URI") or "",
                    status=status,
                    mime=mime.split(";")[0].strip().lower(),
                    size=size,
                    record_type=record.rec_type,
                    date=record.rec_headers.get_header("WARC-Date") or "",
                )
    except (ArchiveLoadFailed, OSError, ValueError) as exc:
        raise StorageError(f"cannot read the WARC of this capture: {exc}") from exc


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _INVISIBLE:
            self._hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _INVISIBLE and self._hidden:
            self._hidden -= 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: no scripts, styles or head; one line per block."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def output_file(session: Session, capture: Capture, view: str) -> Path | None:
    """The file of a succeeded output (``OUTPUT_VIEWS`` names), inside the capture's folder."""
    return result_file(session, capture, OUTPUT_VIEWS[view][0])


def result_file(session: Session, capture: Capture, extractor: str) -> Path | None:
    """The file of the capture's succeeded ``extractor`` result, inside its folder."""
    row = session.exec(
        select(ArchiveResult).where(
            col(ArchiveResult.capture_uuid) == capture.uuid,
            col(ArchiveResult.extractor) == extractor,
            col(ArchiveResult.status) == ResultStatus.SUCCEEDED,
        )
    ).first()
    return inside_capture(capture, row.output if row is not None else None)


def inside_capture(capture: Capture, output: str | None) -> Path | None:
    """The file ``output`` names, only when it is a file inside the capture's folder."""
    if not capture.directory or not output:
        return None
    folder = Path(capture.directory).resolve()
    path = (folder / output).resolve()
    return path if path.is_relative_to(folder) and path.is_file() else None


def dom_text(session: Session, capture: Capture) -> str:
    """The saved DOM of a capture as visible text ('' when there is none)."""
    path = output_file(session, capture, "dom")
    if path is None:
        return ""
    return visible_text(path.read_text(encoding="utf-8", errors="replace"))
