"""Small pieces of HTML every list repeats, made in Python: a template macro call per
cell cost more than the rest of a 200-row list (``macros.html`` exports these under
the macros' names, so templates import them as before).

Each returns ``Markup`` with its values escaped.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

STATUS_LABELS = {
    "COMPLETE": "Completed",
    "FAILED": "Failed",
    "REJECTED": "Rejected",
    "USER_INPUT": "Awaiting decision",
    "PROCESSING": "Processing",
    "UNKNOWN": "Unknown",
}


def when(value: datetime | None) -> Markup:
    """A ``<time>`` element (UTC as stored), or a dash."""
    if not value:
        return Markup("–")
    # (a datetime's text needs no escaping; Markup.format costs as much as the page)
    return Markup(f'<time datetime="{value.isoformat()}">{value:%Y-%m-%d %H:%M:%S}</time>')


def size(n: int | None) -> Markup:
    """Bytes for a reader: B, KiB, MiB or GiB."""
    if n is None:
        return Markup("–")
    if n < 1024:
        return Markup(f"{n} B")
    if n < 1024**2:
        return Markup(f"{n / 1024:.1f} KiB")
    if n < 1024**3:
        return Markup(f"{n / 1024**2:.1f} MiB")
    return Markup(f"{n / 1024**3:.2f} GiB")


def status(value: str) -> Markup:
    """A unit's status as a labelled badge."""
    text = str(value)
    label = STATUS_LABELS.get(text) or escape(text)
    return Markup(f'<span class="status status-{escape(text)}">{label}</span>')


def unit_link(kind: str, uuid: str, name: str) -> Markup:
    """A link to a SIP's or a transfer's page."""
    base = "ingest" if kind == "SIP" else "transfers"
    return Markup(f'<a href="/{base}/{escape(uuid)}">{escape(name)}</a>')


GLOBALS = {"_when": when, "_size": size, "_status": status, "_unit_link": unit_link}
