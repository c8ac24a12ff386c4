"""Archive downloads as Perma serves them.

A WARC download is the stored WARC prefixed with two extra ``warcinfo`` records
(``operator: Perma.cc download``, ``Perma-GUID``, Webrecorder-style
``json-metadata`` for the collection and the recording), as ``application/gzip``
named ``{guid}.warc.gz``. gzip members concatenate, so the stored file is streamed
unchanged after them. ``?file_format=wacz`` serves the WACZ instead.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

from fastapi.responses import StreamingResponse
from warcio.warcwriter import WARCWriter

from custos.errors import InvalidInput, NotFound
from custos.models import Capture

from .shapes import iso

CHUNK = 1024 * 1024
FORMATS = ("warc", "wacz")


def warcinfo_prefix(capture: Capture) -> bytes:
    """The two gzip-compressed warcinfo records Perma puts before a downloaded WARC."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True, warc_version="WARC/1.1")
    title = capture.title or capture.url
    collection = {
        "type": "collection",
        "title": "Web Archive Collection",
        "desc": f"Perma.cc archive {capture.guid}",
    }
    recording = {
        "type": "recording",
        "title": title,
        "pages": [
            {
                "title": title,
                "url": capture.url,
                "timestamp": iso(capture.capture_start or capture.created_at),
            }
        ],
    }
    for metadata in (collection, recording):
        info = {
            "operator": "Perma.cc download",
            "Perma-GUID": capture.guid,
            "format": "WARC File Format 1.1",
            "json-metadata": json.dumps(metadata),
        }
        writer.write_record(writer.create_warcinfo_record(f"{capture.guid}.warc.gz", info))
    return buffer.getvalue()


def _stream(prefix: bytes, path: Path) -> Iterator[bytes]:
    if prefix:
        yield prefix
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def download_response(capture: Capture, file_format: str | None) -> StreamingResponse:
    """The WARC (default) or WACZ of a capture; 404 when there is nothing to play back."""
    file_format = file_format or "warc"
    if file_format not in FORMATS:
        raise InvalidInput(
            "bad format",
            {"file_format": "The specified format is not supported. Options: warc, wacz."},
        )
    if capture.user_deleted:
        raise NotFound("Not found.")
    if file_format == "wacz":
        if not capture.wacz_path or not Path(capture.wacz_path).is_file():
            raise NotFound("Not found.")
        return StreamingResponse(
            _stream(b"", Path(capture.wacz_path)),
            media_type="application/wacz",
            headers={"Content-Disposition": f'attachment; filename="{capture.guid}.wacz"'},
        )
    if not capture.warc_path or not Path(capture.warc_path).is_file():
        raise NotFound("Not found.")
    return StreamingResponse(
        _stream(warcinfo_prefix(capture), Path(capture.warc_path)),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{capture.guid}.warc.gz"'},
    )
