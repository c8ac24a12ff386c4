"""Reading HTTP/1.1 messages off a stream while keeping their exact bytes.

The proxy must know where each message ends (to keep browser connections
alive) and must also keep what came over the wire unchanged: chunk framing and
``Content-Encoding`` stay in the raw bytes that go into the WARC. The de-chunked
body is kept beside it because the WARC payload digest is defined over the
entity body, without transfer coding (which is also what ``warcio check`` verifies).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.x."""


class TooLarge(Exception):
    """A body would push the capture over its size limit."""


@dataclass
class Head:
    """A request or status line with its headers, in wire order and case."""

    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def without(self, *names: str) -> list[tuple[str, str]]:
        """The headers minus those named (case-insensitive)."""
        drop = {n.lower() for n in names}
        return [(k, v) for k, v in self.headers if k.lower() not in drop]

    def encode(self) -> bytes:
        """The head as bytes, terminated by the empty line."""
        lines = [self.start_line] + [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(raw: bytes) -> Head:
    """Split a head (bytes up to and including the blank line) into its parts."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    if not lines or not lines[0]:
        raise ProtocolError("empty start line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:  # obsolete line folding
            key, value = headers[-1]
            headers[-1] = (key, value + " " + line.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"malformed header line {line!r}")
        headers.append((key.strip(), value.strip()))
    return Head(lines[0], headers)


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The raw head of the next message, or None if the peer closed cleanly."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ProtocolError("connection closed inside a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("message head too long") from exc


@dataclass
class Body:
    """A message body: ``raw`` as on the wire, ``payload`` without transfer coding."""

    raw: bytes
    payload: bytes
    until_close: bool = False


async def _read_chunked(reader: asyncio.StreamReader, budget: int) -> Body:
    raw = bytearray()
    payload = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        raw += line
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise ProtocolError(f"bad chunk size line {line!r}") from exc
        if size == 0:
            while True:  # trailers, then the empty line
                trailer = await reader.readuntil(b"\r\n")
                raw += trailer
                if trailer == b"\r\n":
                    return Body(bytes(raw), bytes(payload))
        if len(raw) + size > budget:
            raise TooLarge(f"chunked body exceeds {budget} bytes")
        chunk = await reader.readexactly(size + 2)
        raw += chunk
        payload += chunk[:-2]


async def _read_to_eof(reader: asyncio.StreamReader, budget: int) -> Body:
    raw = bytearray()
    while True:
        piece = await reader.read(65536)
        if not piece:
            return Body(bytes(raw), bytes(raw), until_close=True)
        raw += piece
        if len(raw) > budget:
            raise TooLarge(f"body exceeds {budget} bytes")


async def read_body(
    reader: asyncio.StreamReader,
    head: Head,
    *,
    is_request: bool,
    request_method: str = "GET",
    budget: int,
) -> Body:
    """Read the body that follows ``head`` (RFC 9112 section 6.3 framing rules).

    ``budget`` bounds the bytes read; beyond it ``TooLarge`` is raised so the
    capture can stop at its size limit instead of buffering without end.
    """
    if not is_request:
        status = int(head.start_line.split(" ", 2)[1])
        if request_method == "HEAD" or status < 200 or status in (204, 304):
            return Body(b"", b"")
    transfer = (head.get("Transfer-Encoding") or "").lower()
    try:
        if "chunked" in transfer:
            return await _read_chunked(reader, budget)
        length = head.get("Content-Length")
        if length is not None:
            size = int(length.split(",")[0].strip())
            if size > budget:
                raise TooLarge(f"Content-Length {size} exceeds {budget} bytes")
            data = await reader.readexactly(size)
            return Body(data, data)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed inside a message body") from exc
    except ValueError as exc:
        raise ProtocolError(f"bad Content-Length {head.get('Content-Length')!r}") from exc
    if is_request:
        return Body(b"", b"")
    return await _read_to_eof(reader, budget)
