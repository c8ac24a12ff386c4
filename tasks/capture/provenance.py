"""The provenance summary: what was captured, when, with what, and what was refused.

A reader of the archive years later needs to know which software and browser
made it, which requests the SSRF guard blocked, which limit cut the capture
short, and which certificates the origin presented. The same facts are written
as JSON (for machines) and HTML (for the replay page), and both go into the
WARC as ``resource`` records.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from custos.versions import software_versions

__all__ = ["render_html", "software_line", "software_versions"]


def software_line(versions: dict[str, str]) -> str:
    """One line for WARC ``software`` fields."""
    return (
        f"Custos {versions.get('custos', 'unknown')} (Playwright "
        f"{versions.get('playwright')}, Chromium {versions.get('chromium')}, "
        f"warcio {versions.get('warcio')}, Python {versions.get('python')})"
    )


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>"
    return html.escape("" if value is None else str(value))


def render_html(summary: dict[str, Any]) -> str:
    """A self-contained HTML page listing every field of ``summary``."""
    rows = "\n".join(
        f"<tr><th>{html.escape(key.replace('_', ' '))}</th><td>{_cell(value)}</td></tr>"
        for key, value in summary.items()
    )
    title = html.escape(f"Provenance summary of the capture of {summary.get('url', '')}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "th{text-align:left;vertical-align:top;padding-right:1em}"
        "pre{white-space:pre-wrap;margin:0}</style></head>\n"
        f"<body><h1>{title}</h1>\n<table>\n{rows}\n</table></body></html>\n"
    )


def write_provenance(summary: dict[str, Any], json_path: Path, html_path: Path) -> None:
    """Write ``summary`` as JSON and as HTML."""
    json_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(summary), encoding="utf-8")
