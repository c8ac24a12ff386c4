"""Dublin Core (and custom) descriptive metadata elements from metadata.csv columns.

metadata.csv columns named ``dc.<term>`` or ``dcterms.<term>`` become a
``dcterms:dublincore`` record (``MDTYPE="DC"``); every other column goes into a custom
record (``MDTYPE="OTHER" OTHERMDTYPE="CUSTOM"``), the split Archivematica makes.
Column names that are not XML names are made into one rather than dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from lxml import etree

from custos.mets.ns import (
    DC_NS,
    DC_NSMAP,
    DCTERMS_NS,
    DCTERMS_SCHEMA_LOCATION,
    XSI_SCHEMA_LOCATION,
)

_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_SubElement = etree.SubElement


def split_columns(
    elements: Iterable[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split (column, value) pairs into Dublin Core ``(namespace-qualified tag, value)``
    pairs and the remaining custom ``(column, value)`` pairs, keeping order."""
    dc: list[tuple[str, str]] = []
    other: list[tuple[str, str]] = []
    for column, value in elements:
        prefix, _, term = column.partition(".")
        key = prefix.lower()
        if term and key == "dc":
            dc.append((f"{{{DC_NS}}}{term}", value))
        elif term and key == "dcterms":
            dc.append((f"{{{DCTERMS_NS}}}{term}", value))
        else:
            other.append((column, value))
    return dc, other


def dublin_core_element(pairs: Sequence[tuple[str, str]]) -> etree._Element:
    """``dcterms:dublincore`` holding one child per (qualified tag, value) pair."""
    root = etree.Element(
        f"{{{DCTERMS_NS}}}dublincore",
        {XSI_SCHEMA_LOCATION: DCTERMS_SCHEMA_LOCATION},
        nsmap=DC_NSMAP,
    )
    for tag, value in pairs:
        _SubElement(root, tag).text = value
    return root


def xml_name(column: str) -> str:
    """A valid XML element name for a free-form csv column."""
    name = _NAME_BAD.sub("_", column.strip()) or "field"
    if not (name[0].isalpha() or name[0] == "_") or name.lower().startswith("xml"):
        name = f"_{name}"
    return name


def custom_elements(pairs: Sequence[tuple[str, str]]) -> list[etree._Element]:
    """Unqualified elements (one per column) for an ``OTHER``/``CUSTOM`` mdWrap."""
    out = []
    for column, value in pairs:
        el = etree.Element(xml_name(column))
        el.text = value
        out.append(el)
    return out
