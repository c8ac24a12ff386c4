"""Source metadata of the transfer: bag-info.txt as a METS ``sourceMD`` payload.

Archivematica (``create_mets_v2.create_object_metadata``) puts the bag-info.txt of
each transfer that arrived as a BagIt bag in a ``sourceMD`` wrapped as
``MDTYPE="OTHER" OTHERMDTYPE="BagIt"``, whose ``xmlData`` holds one unqualified
``transfer_metadata`` element with one child per bag-info field, named after the
field label (``<Bagging-Date>2024-03-01</Bagging-Date>``), repeated for repeated
labels. Archivematica drops labels that are not XML names; here they are made into
one (as for custom metadata.csv columns) so that no field is lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from custos.errors import InvalidInput
from custos.mets.dublincore import xml_name

BAGIT_MDTYPE = "BagIt"
TRANSFER_METADATA = "transfer_metadata"


def _tag(label: str) -> str:
    try:
        etree.Element(label)
    except ValueError:
        return xml_name(label)
    return label


def bag_info_element(fields: Iterable[tuple[str, str]]) -> etree._Element:
    """``<transfer_metadata>`` with one child per (bag-info label, value) pair.

    Raises:
        InvalidInput: a value holds characters XML cannot carry (control characters).
    """
    root = etree.Element(TRANSFER_METADATA)
    for label, value in fields:
        child = etree.SubElement(root, _tag(label))
        try:
            child.text = value
        except ValueError as exc:
            raise InvalidInput(
                f"bag-info.txt value of {label!r} cannot be written to XML: {exc}",
                {"label": label},
            ) from exc
    return root


def bag_info_fields(element: etree._Element) -> list[tuple[str, str]]:
    """The (label, value) pairs of a ``transfer_metadata`` element, in order."""
    return [(child.tag, child.text or "") for child in element if isinstance(child.tag, str)]
