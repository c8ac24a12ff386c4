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

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from custos.errors import InvalidInput, ToolFailed
from custos.programs import event_detail, run, tool_version, which

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


def _run_tool(tool: str, path: Path, timeout: float) -> ToolOutput:
    if which(tool) is None:
        return ToolOutput(tool, None, "skipped", note=f"{tool} is not installed")
    version = tool_version(tool)
    try:
        result = run(_COMMANDS[tool](path.absolute()), timeout=timeout)
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


#: Files per ExifTool call when many files need only ExifTool (one process start each
#: would dominate a transfer of many small files).
EXIFTOOL_BATCH = 200
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def is_xml(mime: str | None) -> bool:
    """XML documents (METS, EAD, ...): ExifTool would list every element of one as a tag,
    taking seconds per megabyte and writing an output twice the document's size."""
    mime = (mime or "").split(";", 1)[0].strip()
    return mime in ("text/xml", "application/xml") or mime.endswith("+xml")


def _exiftool_batch(paths: list[Path], timeout: float, *, fast: bool = False) -> list[ToolOutput]:
    """ExifTool over many files in one call, one RDF document per file; ``fast``
    (``-fast3``) reads only what the file system and the file's type tell (name, size,
    dates, file type, MIME type), for XML documents.

    A file ExifTool could not read gets a *failed* output naming ExifTool's message.
    """
    if which("exiftool") is None:
        return [ToolOutput("exiftool", None, "skipped", note="exiftool is not installed")] * len(
            paths
        )
    version = tool_version("exiftool")
    options = ["-X", "-charset", "filename=utf8", *(["-fast3"] if fast else [])]
    argv = ["exiftool", *options, *(str(p.absolute()) for p in paths)]
    try:
        result = run(argv, timeout=timeout * max(1, len(paths) // 20))
        root = etree.fromstring(result.stdout.encode("utf-8"), _SAFE_PARSER)
    except ToolFailed as exc:
        return [ToolOutput("exiftool", version, "failed", note=str(exc))] * len(paths)
    except etree.XMLSyntaxError as exc:
        note = f"output is not well-formed XML: {exc}"
        return [ToolOutput("exiftool", version, "failed", note=note)] * len(paths)
    found: dict[str, str] = {}
    for desc in root.iterfind(f"{{{_RDF}}}Description"):
        doc = etree.Element(f"{{{_RDF}}}RDF", nsmap={"rdf": _RDF})
        doc.append(desc)
        found[desc.get(f"{{{_RDF}}}about", "")] = etree.tostring(doc, encoding="unicode")
    tail = (result.stderr or "").strip()[-300:] or f"exit {result.returncode}"
    return [
        ToolOutput("exiftool", version, "ok", xml=found[str(p.absolute())])
        if str(p.absolute()) in found
        else ToolOutput("exiftool", version, "failed", note=tail)
        for p in paths
    ]


def characterize_files(
    items: Iterable[tuple[str | Path, str | None]], *, workers: int = 2, timeout: float = 300.0
) -> list[CharacterizationResult]:
    """Characterize many ``(path, mime)`` pairs (tools are subprocesses).

    Audio and video run their tools per file, concurrently; every other file needs
    only ExifTool, run over batches of ``EXIFTOOL_BATCH`` files (XML documents in
    batches of their own, read with ``-fast3``: see :func:`is_xml`).
    """
    pairs = [(Path(p), m) for p, m in items]
    results: list[CharacterizationResult | None] = [None] * len(pairs)
    batch = [i for i, (_, m) in enumerate(pairs) if tools_for(m) == ["exiftool"]]
    batched = set(batch)
    single = [i for i in range(len(pairs)) if i not in batched]
    for fast in (False, True):
        group = [i for i in batch if is_xml(pairs[i][1]) is fast]
        for start in range(0, len(group), EXIFTOOL_BATCH):
            chunk = group[start : start + EXIFTOOL_BATCH]
            outputs = _exiftool_batch([pairs[i][0] for i in chunk], timeout, fast=fast)
            for i, out in zip(chunk, outputs, strict=True):
                results[i] = CharacterizationResult(pairs[i][0], [out])
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="characterize") as pool:
        done = pool.map(lambda i: characterize_file(pairs[i][0], mime=pairs[i][1]), single)
        for i, result in zip(single, done, strict=True):
            results[i] = result
    return [r for r in results if r is not None]
