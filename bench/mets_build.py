"""Benchmark: build, write and re-read the METS of a synthetic 10,000-file AIP.

Prints one JSON line: files, build_s, write_s, size_bytes, parse_back_s (custos'
lxml reader, not metsrw, which is quadratic). Usage: ``python bench/mets_build.py [N]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from custos.mets.mets import build_mets, write_mets
from custos.mets.model import AIP, Agent, AIPFile, Event, FileUse, FormatInfo
from custos.mets.read import read_mets

AGENTS = (
    Agent("preservation system", "Custos-0.1.0", "Custos", "software"),
    Agent("repository code", "ORG", "Organization", "organization"),
    Agent("Custos user pk", "1", 'username="admin"', "Custos user"),
)


def synthetic_aip(count: int) -> AIP:
    """An AIP of ``count`` originals with three events each."""
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    files = []
    for n in range(count):
        events = tuple(
            Event(uuid.uuid4(), kind, when, 'program="custos"', "pass", "", AGENTS)
            for kind in ("ingestion", "message digest calculation", "format identification")
        )
        files.append(
            AIPFile(
                uuid=uuid.uuid4(),
                path=f"objects/dir{n // 1000:02d}/file{n:05d}.txt",
                use=FileUse.ORIGINAL,
                size=4096,
                checksum=f"{n:064x}",
                format=FormatInfo("Plain Text File", "", "x-fmt/111"),
                original_name=f"%transferDirectory%objects/dir{n // 1000:02d}/file{n:05d}.txt",
                events=events,
            )
        )
    return AIP(uuid=uuid.uuid4(), name="bench", files=tuple(files))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    aip = synthetic_aip(count)
    start = time.perf_counter()
    tree = build_mets(aip)
    built = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_mets(tree, Path(tmp) / f"METS.{aip.uuid}.xml")
        written = time.perf_counter()
        size = path.stat().st_size
        contents = read_mets(path)
        parsed = time.perf_counter()
    assert len(contents.files) == count and len(contents.events) == 3 * count
    print(
        json.dumps(
            {
                "files": count,
                "build_s": round(built - start, 3),
                "write_s": round(written - built, 3),
                "size_bytes": size,
                "parse_back_s": round(parsed - written, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
