"""Characterization: keep ExifTool, MediaInfo and ffprobe XML for the METS.

Archivematica's *Characterize and extract metadata* runs the FPR's
characterization commands per file and stores their XML output in the
PREMIS ``objectCharacteristicsExtension``. We choose tools by MIME family
(images and documents: ExifTool; audio/video: MediaInfo and ffprobe, plus
ExifTool), keep each tool's XML only when it is well-formed, and treat a tool
that is not installed as *skipped with a note*, never as a crash.

Example::

    result = characterize_file(path, mime="image/jpeg")
    for out in result.outputs:
        out.tool, out.version, out.outcome, out.xml
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from custos.errors import InvalidInput, ToolFailed
from custos.programs import event_detail, pool_size, run, tool_version, which
from tasks.tools.exiftool import ExifToolPool, passable

#: tool -> argv builder (absolute paths, so a name starting with "-" is no option).
_COMMANDS = {
    "exiftool": lambda p: ["exiftool", "-X", "-charset", "filename=utf8", str(p)],
    "mediainfo": lambda p: ["mediainfo", "--Output=XML", str(p)],
    "ffprobe": lambda p: [
        "ffprobe",
        "-v",
        "error",
        "-print_format",
        "xml",
        "-show_format",
        "-show_streams",
        str(p),
    ],
}
_AV_PUIDS = frozenset(
    [
        "fmt/5",
        "fmt/6",
        "fmt/141",
        "fmt/142",
        "fmt/143",
        "fmt/134",
        "fmt/199",
        "x-fmt/384",
        "fmt/569",
        "fmt/203",
        "fmt/279",
        "fmt/585",
        "fmt/640",
    ]
)


@dataclass(frozen=True)
class ToolOutput:
    """One tool's XML for one file; ``outcome`` is ``ok``, ``skipped`` or ``failed``."""

    tool: str
    version: str | None
    outcome: str
    xml: str | None = None
    note: str = ""

    @property
    def event_detail(self) -> str:
        """``program="exiftool"; version="12.57"``."""
        return event_detail(self.tool, self.version)


@dataclass
class CharacterizationResult:
    """All tool outputs for one file."""

    path: Path
    outputs: list[ToolOutput] = field(default_factory=list)

    @property
    def xml_documents(self) -> list[str]:
        """The well-formed XML documents, in tool order, for objectCharacteristicsExtension."""
        return [o.xml for o in self.outputs if o.outcome == "ok" and o.xml]


def tools_for(mime: str | None, puid: str | None = None) -> list[str]:
    """Which characterization tools apply to a file of this MIME type / PUID."""
    family = (mime or "").split("/", 1)[0]
    if family in {"audio", "video"} or (not mime and puid in _AV_PUIDS):
        return ["mediainfo", "ffprobe", "exiftool"]
    return ["exiftool"]


_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
)


def _run_tool(tool: str, path: Path, timeout: float, extra: Iterable[str] = ()) -> ToolOutput:
    if which(tool) is None:
        return ToolOutput(tool, None, "skipped", note=f"{tool} is not installed")
    version = tool_version(tool)
    argv = _COMMANDS[tool](path.absolute())
    try:
        result = run([argv[0], *extra, *argv[1:]], timeout=timeout)
    except ToolFailed as exc:
        return ToolOutput(tool, version, "failed", note=str(exc))
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-500:]
        return ToolOutput(tool, version, "failed", note=f"exit {result.returncode}: {tail}")
    try:
        etree.fromstring(result.stdout.encode("utf-8"), _SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        return ToolOutput(tool, version, "failed", note=f"output is not well-formed XML: {exc}")
    return ToolOutput(tool, version, "ok", xml=result.stdout)


def characterize_file(
    path: str | Path,
    *,
    mime: str | None = None,
    puid: str | None = None,
    tools: Iterable[str] | None = None,
    timeout: float = 300.0,
) -> CharacterizationResult:
    """Run the applicable tools on one file and keep their XML.

    ``tools`` overrides the choice made by :func:`tools_for`.
    """
    target = Path(path)
    chosen = list(tools) if tools is not None else tools_for(mime, puid)
    unknown = [t for t in chosen if t not in _COMMANDS]
    if unknown:
        raise InvalidInput(f"unknown characterization tool(s): {', '.join(unknown)}")
    return CharacterizationResult(target, [_run_tool(t, target, timeout) for t in chosen])


#: Files per MediaInfo call: it reads a whole list in one process.
MEDIAINFO_BATCH = 50
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_MEDIAINFO = "https://mediaarea.net/mediainfo"


def is_xml(mime: str | None) -> bool:
    """XML documents (METS, EAD, ...): ExifTool would list every element of one as a tag,
    taking seconds per megabyte and writing an output twice the document's size."""
    mime = (mime or "").split(";", 1)[0].strip()
    return mime in ("text/xml", "application/xml") or mime.endswith("+xml")


#: Most files per ExifTool command: few enough that the files of a transfer spread
#: over every process of the pool, many enough that each command's own cost is shared.
EXIFTOOL_BATCH = 25


def _exiftool_failed(version: str | None, note: str, count: int) -> list[ToolOutput]:
    return [ToolOutput("exiftool", version, "failed", note=note)] * count


def exiftool_outputs(
    pool: ExifToolPool, paths: list[Path], *, fast: bool = False
) -> list[ToolOutput]:
    """ExifTool's RDF/XML for each of ``paths``, from one command to a process of
    ``pool`` (one ``rdf:RDF`` document per file); ``fast`` (``-fast3``) reads only what
    the file system and the file's type tell (name, size, dates, file type, MIME type),
    for XML documents. A file ExifTool could not read gets a *failed* output with
    ExifTool's message about it. A name holding a line break, which cannot be passed to
    a running ExifTool, gets a process of its own."""
    if which("exiftool") is None:
        return [ToolOutput("exiftool", None, "skipped", note="exiftool is not installed")] * len(
            paths
        )
    version = tool_version("exiftool")
    names = [str(p.absolute()) for p in paths]
    if not all(passable(n) for n in names):
        extra = ["-fast3"] if fast else []
        return [
            exiftool_outputs(pool, [p], fast=fast)[0]
            if passable(n)
            else _run_tool("exiftool", p, pool.timeout, extra=extra)
            for p, n in zip(paths, names, strict=True)
        ]
    options = ["-X", "-charset", "filename=utf8", *(["-fast3"] if fast else [])]
    try:
        stdout, stderr = pool.execute(
            [*options, *names], timeout=pool.timeout * max(1, len(names) // 20)
        )
        found: dict[str, str] = {}
        if stdout.strip():
            root = etree.fromstring(stdout.encode("utf-8"), _SAFE_PARSER)
            for desc in root.iterfind(f"{{{_RDF}}}Description"):
                doc = etree.Element(f"{{{_RDF}}}RDF", nsmap={"rdf": _RDF})
                doc.append(desc)
                found[desc.get(f"{{{_RDF}}}about", "")] = etree.tostring(doc, encoding="unicode")
    except ToolFailed as exc:
        return _exiftool_failed(version, str(exc), len(paths))
    except etree.XMLSyntaxError as exc:
        return _exiftool_failed(version, f"output is not well-formed XML: {exc}", len(paths))
    messages = stderr.strip().splitlines()
    outputs = []
    for name in names:
        if name in found:
            outputs.append(ToolOutput("exiftool", version, "ok", xml=found[name]))
            continue
        own = [m for m in messages if name in m]
        note = "; ".join(own)[-300:] or stderr.strip()[-300:] or "ExifTool described no file"
        outputs.append(ToolOutput("exiftool", version, "failed", note=note))
    return outputs


def mediainfo_outputs(paths: list[Path], timeout: float) -> list[ToolOutput]:
    """MediaInfo's XML for many files from one MediaInfo process: its document holds one
    ``media`` element per file (``ref`` = the path as given), and each file keeps the
    document with its own element only, as MediaInfo writes it for a single file."""
    if which("mediainfo") is None:
        return [ToolOutput("mediainfo", None, "skipped", note="mediainfo is not installed")] * len(
            paths
        )
    version = tool_version("mediainfo")
    names = [str(p.absolute()) for p in paths]
    try:
        result = run(["mediainfo", "--Output=XML", *names], timeout=timeout * len(paths))
        root = etree.fromstring(result.stdout.encode("utf-8"), _SAFE_PARSER)
    except ToolFailed as exc:
        return [ToolOutput("mediainfo", version, "failed", note=str(exc))] * len(paths)
    except etree.XMLSyntaxError as exc:
        note = f"output is not well-formed XML: {exc}"
        return [ToolOutput("mediainfo", version, "failed", note=note)] * len(paths)
    media = {m.get("ref", ""): m for m in root.iterfind(f"{{{_MEDIAINFO}}}media")}
    for element in media.values():
        root.remove(element)
    tail = (result.stderr or "").strip()[
        -300:
    ] or f"MediaInfo did not read the file (exit {result.returncode})"
    outputs = []
    for name in names:
        element = media.get(name)
        if element is None:
            outputs.append(ToolOutput("mediainfo", version, "failed", note=tail))
            continue
        doc = copy.deepcopy(root)
        doc.append(copy.deepcopy(element))
        xml = etree.tostring(doc, encoding="unicode", xml_declaration=False)
        outputs.append(
            ToolOutput(
                "mediainfo", version, "ok", xml='<?xml version="1.0" encoding="UTF-8"?>\n' + xml
            )
        )
    return outputs


def characterize_files(
    items: Iterable[tuple[str | Path, str | None]], *, workers: int = 2, timeout: float = 300.0
) -> list[CharacterizationResult]:
    """Characterize many ``(path, mime)`` pairs, on up to ``workers`` cores at once.

    ExifTool reads every file, in as many long-running processes as there are workers
    (``tasks.tools.exiftool``), up to ``EXIFTOOL_BATCH`` files per command, the files
    spread over the processes; XML documents are read in commands of their own with
    ``-fast3`` (see :func:`is_xml`). Audio and video also get MediaInfo (one process
    per ``MEDIAINFO_BATCH`` files) and ffprobe (one process per file: it reads one
    file). Results are in input order, each file's outputs in :func:`tools_for` order.
    """
    pairs = [(Path(p), m) for p, m in items]
    if not pairs:
        return []
    size = pool_size(workers)
    av = [i for i, (_, m) in enumerate(pairs) if tools_for(m) != ["exiftool"]]
    step = max(1, min(EXIFTOOL_BATCH, -(-len(pairs) // size)))
    exif_batches = [
        chunk
        for fast in (False, True)
        for group in [[i for i, (_, m) in enumerate(pairs) if is_xml(m) is fast]]
        for chunk in (group[s : s + step] for s in range(0, len(group), step))
    ]
    with (
        ExifToolPool(min(size, len(exif_batches)), timeout) as exif,
        ThreadPoolExecutor(max_workers=size, thread_name_prefix="characterize") as pool,
    ):
        media = [
            (chunk, pool.submit(mediainfo_outputs, [pairs[i][0] for i in chunk], timeout))
            for chunk in (av[s : s + MEDIAINFO_BATCH] for s in range(0, len(av), MEDIAINFO_BATCH))
        ]
        probes = {i: pool.submit(_run_tool, "ffprobe", pairs[i][0], timeout) for i in av}
        exifs = [
            (
                chunk,
                pool.submit(
                    exiftool_outputs,
                    exif,
                    [pairs[i][0] for i in chunk],
                    fast=is_xml(pairs[chunk[0]][1]),
                ),
            )
            for chunk in exif_batches
        ]
        by_file: dict[int, list[ToolOutput]] = {i: [] for i in range(len(pairs))}
        for chunk, future in media:
            for i, out in zip(chunk, future.result(), strict=True):
                by_file[i].append(out)
        for i, probe in probes.items():
            by_file[i].append(probe.result())
        for chunk, batch in exifs:
            for i, out in zip(chunk, batch.result(), strict=True):
                by_file[i].append(out)
        return [CharacterizationResult(path, by_file[i]) for i, (path, _) in enumerate(pairs)]
