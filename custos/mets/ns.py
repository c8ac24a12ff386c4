"""XML namespaces shared by the METS builders, and the one safe lxml parser setup.

Every parse in this package goes through :func:`safe_parser`: entities are never
resolved and nothing is fetched from the network, so a hostile characterization
fragment or METS cannot read local files or call out.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from custos.errors import InvalidInput

METS_NS = "http://www.loc.gov/METS/"
PREMIS_NS = "http://www.loc.gov/premis/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"

METS_SCHEMA_LOCATION = (
    "http://www.loc.gov/METS/ http://www.loc.gov/standards/mets/version1121/mets.xsd"
)
PREMIS_SCHEMA_LOCATION = (
    "http://www.loc.gov/premis/v3 http://www.loc.gov/standards/premis/v3/premis.xsd"
)
DCTERMS_SCHEMA_LOCATION = (
    "http://purl.org/dc/terms/ http://dublincore.org/schemas/xmls/qdc/2008/02/11/dcterms.xsd"
)

NSMAP: dict[str | None, str] = {
    "mets": METS_NS,
    "premis": PREMIS_NS,
    "xlink": XLINK_NS,
    "xsi": XSI_NS,
}
PREMIS_NSMAP: dict[str | None, str] = {"premis": PREMIS_NS, "xsi": XSI_NS}
DC_NSMAP: dict[str | None, str] = {"dcterms": DCTERMS_NS, "dc": DC_NS, "xsi": XSI_NS}
XPATH_NS = {"mets": METS_NS, "premis": PREMIS_NS, "xlink": XLINK_NS, "xsi": XSI_NS}

XSI_TYPE = f"{{{XSI_NS}}}type"
XSI_SCHEMA_LOCATION = f"{{{XSI_NS}}}schemaLocation"
XLINK_HREF = f"{{{XLINK_NS}}}href"


def mets(tag: str) -> str:
    """Clark name of a METS element."""
    return f"{{{METS_NS}}}{tag}"


def premis(tag: str) -> str:
    """Clark name of a PREMIS 3 element."""
    return f"{{{PREMIS_NS}}}{tag}"


def safe_parser(*, huge_tree: bool = True, remove_blank_text: bool = False) -> etree.XMLParser:
    """A parser that never resolves entities nor touches the network.

    ``huge_tree`` stays on by default because a 10,000-file METS is tens of MB and
    characterization output can have deep trees; entity expansion is off, so this does
    not open the door to billion-laughs.
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=huge_tree,
        remove_blank_text=remove_blank_text,
        load_dtd=False,
    )


def parse_supplied(path: Path) -> etree._ElementTree:
    """Parse an XML file a user supplied (premis.xml, mets_structmap.xml) safely.

    Besides :func:`safe_parser`'s guarantees, a document with a DOCTYPE is refused:
    its entities would stay unresolved references that schema validation cannot judge.

    Raises:
        InvalidInput: unreadable, not well-formed, or carrying a DOCTYPE.
    """
    try:
        tree = etree.parse(str(path), safe_parser())
    except (etree.XMLSyntaxError, OSError) as exc:
        raise InvalidInput(f"{path.name} is not well-formed XML: {exc}") from exc
    if tree.docinfo.doctype:
        raise InvalidInput(f"{path.name}: a DOCTYPE (and its entities) is not allowed")
    return tree
