"""Packaging a capture's WARC as a WACZ 1.1.1 file, and checking one by reopening it.

Written by hand rather than with py-wacz, whose ``frictionless`` dependency
tree is large for what is a zip of four kinds of file: ``archive/`` (the WARC,
stored uncompressed in the zip so replay tools can seek into it),
``indexes/index.cdxj``, ``pages/pages.jsonl`` and ``datapackage.json`` with a
sha256 per file, plus ``datapackage-digest.json``.

The index follows what ``cdxj-indexer`` (py-wacz's indexer) writes, so replay
tools find records by the same keys: SURT keys as the ``surt`` package makes
them (IP addresses reversed too, ``www.`` dropped, query arguments sorted),
MIME types without parameters, offsets and lengths as strings, and
``response``, ``revisit``, ``resource`` and ``metadata`` records indexed. The
tests check both against ``cdxj-indexer`` and ``wacz validate``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from custos.errors import InvalidInput, StorageError

WARC_NAME = "data.warc.gz"
INDEXED_TYPES = ("response", "revisit", "resource", "metadata")
_WWW = re.compile(r"^www\d*\.")


def surt(url: str) -> str:
    """Sort-friendly CDXJ key: ``https://www.Example.org/a?b=1&a=2`` -> ``org,example)/a?a=2&b=1``.

    Matches the ``surt`` package's defaults for http(s) URLs; ``file:///x``
    becomes ``file:/x`` as it does there, and other schemes (``urn:``) are
    lowercased with sorted query arguments and no trailing slash, as there.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return "file:/" + parts.path.lstrip("/")
    if scheme not in ("http", "https"):
        base, _, query = url.lower().partition("?")
        return base.rstrip("/") + ("?" + "&".join(sorted(query.split("&"))) if query else "")
    host = _WWW.sub("", (parts.hostname or "").lower().strip("."))
    key = ",".join(reversed(host.split(".")))
    if parts.port and parts.port != (443 if scheme == "https" else 80):
        key += f":{parts.port}"
    path = (parts.path or "/").lower()
    query = "&".join(sorted(parts.query.lower().split("&"))) if parts.query else ""
    return f"{key}){path}" + (f"?{query}" if query else "")


def cdxj_lines(warc_path: Path) -> list[str]:
    """One CDXJ line per response, revisit and resource record, sorted."""
    lines = []
    with warc_path.open("rb") as stream:
        records = ArchiveIterator(stream)
        for record in records:
            rec_type = record.rec_type
            if rec_type not in INDEXED_TYPES:
                continue
            headers = record.rec_headers
            url = str(headers.get_header("WARC-Target-URI"))
            date = str(headers.get_header("WARC-Date"))
            entry: dict[str, Any] = {"url": url}
            if record.http_headers is not None and rec_type in ("response", "revisit"):
                entry["mime"] = _bare(record.http_headers.get_header("Content-Type"))
                entry["status"] = record.http_headers.get_statuscode()
            else:
                entry["mime"] = _bare(headers.get_header("Content-Type"))
            if rec_type == "revisit":
                entry["mime"] = "warc/revisit"
            entry["digest"] = str(
                headers.get_header("WARC-Payload-Digest")
                or headers.get_header("WARC-Block-Digest")
                or ""
            )
            record.content_stream().read()
            offset = records.get_record_offset()
            records.read_to_end()
            entry.update(
                length=str(records.get_record_length()), offset=str(offset), filename=WARC_NAME
            )
            timestamp = "".join(ch for ch in date if ch.isdigit())[:14]
            lines.append(f"{surt(url)} {timestamp} {json.dumps(entry)}")
    return sorted(lines)


def _bare(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_wacz(warc_path: Path, wacz_path: Path, *, url: str, title: str, started_at: str) -> Path:
    """Package ``warc_path`` with its index and one page entry into ``wacz_path``."""
    try:
        warc = warc_path.read_bytes()
        index = ("\n".join(cdxj_lines(warc_path)) + "\n").encode("utf-8")
    except (OSError, ArchiveLoadFailed) as exc:
        raise StorageError(f"cannot read WARC {warc_path}: {exc}") from exc
    pages = (
        "\n".join(
            json.dumps(row)
            for row in (
                {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"},
                {"id": "page-1", "url": url, "ts": started_at, "title": title or url},
            )
        ).encode("utf-8")
        + b"\n"
    )
    files = {f"archive/{WARC_NAME}": warc, "indexes/index.cdxj": index, "pages/pages.jsonl": pages}
    package = {
        "profile": "data-package",
        "wacz_version": "1.1.1",
        "title": title or url,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "software": "Custos",
        "mainPageUrl": url,
        "mainPageDate": started_at,
        "resources": [
            {"name": Path(name).name, "path": name, "hash": _sha256(data), "bytes": len(data)}
            for name, data in files.items()
        ],
    }
    package_bytes = json.dumps(package, indent=2).encode("utf-8")
    digest = json.dumps({"path": "datapackage.json", "hash": _sha256(package_bytes)})
    try:
        with zipfile.ZipFile(wacz_path, "w") as archive:
            for name, data in files.items():
                compression = (
                    zipfile.ZIP_STORED if name.startswith("archive/") else zipfile.ZIP_DEFLATED
                )
                archive.writestr(name, data, compress_type=compression)
            archive.writestr("datapackage.json", package_bytes)
            archive.writestr("datapackage-digest.json", digest)
    except OSError as exc:
        raise StorageError(f"cannot write WACZ {wacz_path}: {exc}") from exc
    validate_wacz(wacz_path)
    return wacz_path


def validate_wacz(wacz_path: Path) -> dict[str, Any]:
    """Reopen a WACZ and check hashes, sizes and that every index line hits its record.

    Returns the parsed ``datapackage.json``; raises ``InvalidInput`` with the
    list of problems otherwise.
    """
    problems: list[str] = []
    try:
        with zipfile.ZipFile(wacz_path) as archive:
            package_bytes = archive.read("datapackage.json")
            package = json.loads(package_bytes)
            digest = json.loads(archive.read("datapackage-digest.json"))
            if digest.get("hash") != _sha256(package_bytes):
                problems.append("datapackage-digest.json does not match datapackage.json")
            for resource in package.get("resources", []):
                data = archive.read(resource["path"])
                if _sha256(data) != resource["hash"] or len(data) != resource["bytes"]:
                    problems.append(f"{resource['path']}: hash or size differs")
            warc = archive.read(f"archive/{WARC_NAME}")
            index = archive.read("indexes/index.cdxj").decode("utf-8").splitlines()
            for line in filter(None, index):
                entry = json.loads(line.split(" ", 2)[2])
                offset, length = int(entry["offset"]), int(entry["length"])
                chunk = io.BytesIO(warc[offset : offset + length])
                record = next(iter(ArchiveIterator(chunk)), None)
                if (
                    record is None
                    or record.rec_headers.get_header("WARC-Target-URI") != entry["url"]
                ):
                    problems.append(f"index entry for {entry['url']} misses its record")
            if not archive.read("pages/pages.jsonl").strip():
                problems.append("pages/pages.jsonl is empty")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ArchiveLoadFailed) as exc:
        raise InvalidInput(f"unreadable WACZ {wacz_path}", details=[str(exc)]) from exc
    if problems:
        raise InvalidInput(f"invalid WACZ {wacz_path}", details=problems)
    return dict(package)
