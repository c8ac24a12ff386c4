"""Captures made without a browser: rows as a finished capture leaves them, with a
small real WARC (written by warcio) and a saved DOM, for playback and search tests."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from custos.accounts import create_api_key, create_user
from custos.capture_search import index_completed
from custos.captures import create_capture
from custos.db import session_scope
from custos.models import ArchiveResult, Capture, CaptureStatus, ResultStatus, User

_n = itertools.count()


def user(role: str = "capture") -> tuple[User, str]:
    """A new user of ``role`` and an API key of theirs."""
    made = create_user(f"playback-{next(_n)}", role=role)
    assert made.id is not None
    return made, create_api_key(made.id)


def write_warc(path: Path, url: str, html: bytes) -> None:
    """A WARC holding the page, its image (a 404 too) and one resource record."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for target, status, mime, body in (
            (url, "200 OK", "text/html; charset=utf-8", html),
            (url.rstrip("/") + "/pic.png", "200 OK", "image/png", b"\x89PNG" + b"0" * 96),
            (url.rstrip("/") + "/gone", "404 Not Found", "text/plain", b"gone"),
        ):
            headers = StatusAndHeaders(status, [("Content-Type", mime)], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    target, "response", payload=io.BytesIO(body), http_headers=headers
                )
            )
        writer.write_record(
            writer.create_warc_record(
                "file:///screenshot.png",
                "resource",
                payload=io.BytesIO(b"\x89PNG" + b"1" * 10),
                warc_content_type="image/png",
            )
        )


def stored_capture(
    owner: User,
    url: str,
    page_text: str,
    *,
    title: str = "Stored page",
    private: bool = False,
    index: bool = True,
) -> Capture:
    """A succeeded capture of ``url`` whose page shows ``page_text``."""
    capture = create_capture(url, owner, is_private=private, submit=False)
    folder = Path(capture.directory or "")
    folder.mkdir(parents=True, exist_ok=True)
    html = (
        f"<html><head><title>{title}</title><script>var hidden = 'scriptword';</script>"
        f"</head><body><h1>{title}</h1><p>{page_text}</p></body></html>"
    ).encode()
    (folder / "dom-snapshot.html").write_bytes(html)
    write_warc(folder / "archive.warc.gz", url, html)
    with session_scope() as s:
        row = s.get(Capture, capture.uuid)
        assert row is not None
        row.status = CaptureStatus.SUCCEEDED
        row.title = title
        row.warc_path = str(folder / "archive.warc.gz")
        row.warc_size = (folder / "archive.warc.gz").stat().st_size
        s.add(
            ArchiveResult(
                capture_uuid=capture.uuid,
                extractor="dom",
                status=ResultStatus.SUCCEEDED,
                output="dom-snapshot.html",
            )
        )
    if index:
        assert index_completed(capture.uuid)
    with session_scope() as s:
        found = s.get(Capture, capture.uuid)
        assert found is not None
        return found
