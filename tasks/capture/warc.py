"""Writing a capture to a WARC 1.1 file with warcio.

Record order: one ``warcinfo``; per exchange a ``response`` (or a ``revisit``
when the same payload was already recorded in this capture) followed by its
``request``; then one ``resource`` per attachment (screenshot, DOM snapshot,
PDF, favicon, provenance summary); then the ``metadata`` records (the page
info, ``urn:pageinfo:<url>``). Revisits point only inside the same file, so
every WARC stays self-contained for the AIP.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from custos.errors import StorageError, ToolFailed

from .proxy import Exchange

REVISIT_MIN_PAYLOAD = 1


@dataclass(frozen=True)
class Attachment:
    """A file made during the capture, stored as a ``resource`` record."""

    uri: str
    path: Path
    content_type: str


@dataclass(frozen=True)
class MetadataRecord:
    """Facts about the capture (not bytes from the web), stored as a ``metadata`` record.

    ``concurrent_to`` names the URL whose first response record this one
    describes; the record then carries ``WARC-Concurrent-To`` pointing at it,
    as Heritrix links its metadata records to the response they are about.
    """

    uri: str
    payload: bytes
    content_type: str
    concurrent_to: str | None = None


@dataclass
class WarcSummary:
    """What was written: counts per record type."""

    path: Path
    responses: int = 0
    revisits: int = 0
    requests: int = 0
    resources: int = 0
    metadata: int = 0


def _response_headers(exchange: Exchange) -> StatusAndHeaders:
    protocol, _, status_line = exchange.response_head.start_line.partition(" ")
    return StatusAndHeaders(status_line, list(exchange.response_head.headers), protocol=protocol)


def _request_headers(exchange: Exchange) -> StatusAndHeaders:
    return StatusAndHeaders(
        exchange.request_head.start_line, list(exchange.request_head.headers), is_http_request=True
    )


def write_warc(
    path: Path,
    *,
    exchanges: list[Exchange],
    attachments: list[Attachment],
    warcinfo: dict[str, str],
    metadata: Sequence[MetadataRecord] = (),
) -> WarcSummary:
    """Write ``exchanges``, ``attachments`` and ``metadata`` to a gzipped WARC 1.1 at ``path``."""
    summary = WarcSummary(path)
    seen: dict[str, tuple[str, str, str]] = {}
    first_record: dict[str, str] = {}
    try:
        with path.open("wb") as out:
            writer = WARCWriter(out, gzip=True, warc_version="WARC/1.1")
            writer.write_record(writer.create_warcinfo_record(path.name, warcinfo))
            for exchange in exchanges:
                date = datetime_to_iso_date(exchange.started.replace(tzinfo=None), use_micros=True)
                common = {"WARC-Date": date, "WARC-IP-Address": exchange.ip}
                response = writer.create_warc_record(
                    exchange.url,
                    "response",
                    payload=io.BytesIO(exchange.response_body.raw),
                    length=len(exchange.response_body.raw),
                    http_headers=_response_headers(exchange),
                    warc_headers_dict=common,
                )
                digest = str(response.rec_headers.get_header("WARC-Payload-Digest"))
                original = seen.get(digest)
                if original is not None and len(exchange.response_body.raw) >= REVISIT_MIN_PAYLOAD:
                    response = writer.create_revisit_record(
                        exchange.url,
                        digest,
                        original[0],
                        original[1],
                        http_headers=_response_headers(exchange),
                        warc_headers_dict={**common, "WARC-Refers-To": original[2]},
                    )
                    summary.revisits += 1
                else:
                    if exchange.status == 200 and exchange.response_body.raw:
                        seen[digest] = (
                            exchange.url,
                            date,
                            str(response.rec_headers.get_header("WARC-Record-ID")),
                        )
                    summary.responses += 1
                writer.write_record(response)
                first_record.setdefault(
                    exchange.url, str(response.rec_headers.get_header("WARC-Record-ID"))
                )
                request = writer.create_warc_record(
                    exchange.url,
                    "request",
                    payload=io.BytesIO(exchange.request_body.raw),
                    length=len(exchange.request_body.raw),
                    http_headers=_request_headers(exchange),
                    warc_headers_dict={
                        "WARC-Date": date,
                        "WARC-Concurrent-To": str(
                            response.rec_headers.get_header("WARC-Record-ID")
                        ),
                    },
                )
                writer.write_record(request)
                summary.requests += 1
            for attachment in attachments:
                with attachment.path.open("rb") as payload:
                    record = writer.create_warc_record(
                        attachment.uri,
                        "resource",
                        payload=payload,
                        length=attachment.path.stat().st_size,
                        warc_content_type=attachment.content_type,
                    )
                    writer.write_record(record)
                summary.resources += 1
            for fact in metadata:
                headers = {}
                if fact.concurrent_to is not None and fact.concurrent_to in first_record:
                    headers["WARC-Concurrent-To"] = first_record[fact.concurrent_to]
                writer.write_record(
                    writer.create_warc_record(
                        fact.uri,
                        "metadata",
                        payload=io.BytesIO(fact.payload),
                        length=len(fact.payload),
                        warc_content_type=fact.content_type,
                        warc_headers_dict=headers,
                    )
                )
                summary.metadata += 1
    except OSError as exc:
        raise StorageError(f"cannot write WARC {path}: {exc}") from exc
    return summary


def verify_warc(path: Path) -> None:
    """Read every record back with digest checking, as ``warcio check`` does, in-process."""
    try:
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream, check_digests=True):
                while record.content_stream().read(1024 * 1024):
                    pass
                if record.digest_checker.passed is False:
                    raise ToolFailed(
                        "warc verification",
                        1,
                        "; ".join(str(p) for p in record.digest_checker.problems),
                    )
    except ArchiveLoadFailed as exc:
        raise ToolFailed("warc verification", 1, str(exc)) from exc
