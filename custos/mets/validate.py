"""Offline validation of METS documents against the bundled METS 1.12 / PREMIS 3 schemas.

The official schemas import each other by their public URLs; the bundled
``custos/schemas/catalog.xml`` maps those URLs to the local copies and a lxml resolver
applies it, so validation never touches the network (and does not depend on the
process-wide ``XML_CATALOG_FILES``). METS processes ``mdWrap/xmlData`` laxly, so every
PREMIS element found there (object, event, agent, rights) is validated against
premis.xsd on its own as well.

Usage::

    problems = mets_problems(path)      # [] when valid
    assert_valid_mets(path)             # raises InvalidInput(details=problems)
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from custos.errors import InvalidInput
from custos.mets.ns import PREMIS_NS, mets, safe_parser

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
_CATALOG_NS = "{urn:oasis:names:tc:entity:xmlns:xml:catalog}"
_XML_DATA = mets("xmlData")
_PREMIS_ELEMENT = f"Element '{{{PREMIS_NS}}}"


@functools.cache
def _catalog(schema_dir: Path) -> dict[str, Path]:
    tree = etree.parse(str(schema_dir / "catalog.xml"), safe_parser())
    return {
        entry.get("systemId", ""): schema_dir / entry.get("uri", "")
        for entry in tree.iter(f"{_CATALOG_NS}system")
    }


class _CatalogResolver(etree.Resolver):
    """Resolve schema imports by their public URL to the bundled files, never the network."""

    def __init__(self, catalog: dict[str, Path]) -> None:
        super().__init__()
        self.catalog = catalog

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        local = self.catalog.get(system_url)
        if local is None:
            return None
        return self.resolve_filename(str(local), context)


#: METS and PREMIS in one schema: METS' lax ``xmlData`` still has to resolve the
#: ``xsi:type="premis:file"`` it meets, which fails unless PREMIS is loaded alongside.
_COMBINED = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:import namespace="http://www.loc.gov/METS/"
             schemaLocation="http://www.loc.gov/standards/mets/version1121/mets.xsd"/>
  <xs:import namespace="http://www.loc.gov/premis/v3"
             schemaLocation="http://www.loc.gov/standards/premis/v3/premis.xsd"/>
</xs:schema>"""


@functools.cache
def load_schema(name: str, schema_dir: Path = SCHEMA_DIR) -> etree.XMLSchema:
    """Compile a bundled schema once per process.

    ``name`` is ``"premis.xsd"``, ``"mets.xsd"`` or ``"mets+premis"`` (METS with PREMIS
    loaded too, what a METS document is checked against).
    """
    parser = safe_parser()
    parser.resolvers.add(_CatalogResolver(_catalog(schema_dir)))
    try:
        if name == "mets+premis":
            doc = etree.ElementTree(
                etree.fromstring(_COMBINED, parser, base_url=str(schema_dir / "combined.xsd"))
            )
        else:
            doc = etree.parse(str(schema_dir / name), parser)
        return etree.XMLSchema(doc)
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise InvalidInput(f"cannot load bundled schema {name}: {exc}") from exc


def _errors(schema: etree.XMLSchema, where: str) -> list[str]:
    return [f"{where}{f'line {e.line}: ' if e.line else ''}{e.message}" for e in schema.error_log]


def parse_mets(source: Path | bytes) -> etree._ElementTree:
    """Parse a METS file or bytes with the safe parser; malformed XML is InvalidInput."""
    parser = safe_parser()
    try:
        if isinstance(source, bytes):
            return etree.ElementTree(etree.fromstring(source, parser))
        return etree.parse(str(source), parser)
    except (etree.XMLSyntaxError, OSError) as exc:
        raise InvalidInput(f"METS is not well-formed XML: {exc}", [str(exc)]) from exc


def mets_problems(source: Path | bytes | etree._ElementTree) -> list[str]:
    """Every schema problem of a METS document: METS structure, then embedded PREMIS.

    Returns an empty list for a valid document; messages carry line numbers (when the
    document was parsed from text) and, for PREMIS, the enclosing METS section ID.
    """
    tree = source if isinstance(source, etree._ElementTree) else parse_mets(source)
    mets_schema = load_schema("mets+premis")
    problems: list[str] = []
    if not mets_schema.validate(tree):
        # PREMIS errors are reported below, with the section they sit in.
        problems.extend(p for p in _errors(mets_schema, "METS ") if _PREMIS_ELEMENT not in p)
    premis_schema = load_schema("premis.xsd")
    for data in tree.iter(_XML_DATA):
        for child in data:
            if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{PREMIS_NS}}}"):
                continue
            if not premis_schema.validate(child):
                section = data.getparent().getparent()
                line = f" (line {child.sourceline})" if child.sourceline else ""
                where = f"PREMIS in {section.get('ID', section.tag)}{line}: "
                problems.extend(f"{where}{e.message}" for e in premis_schema.error_log)
    return problems


def assert_valid_mets(source: Path | bytes | etree._ElementTree) -> None:
    """Raise :class:`InvalidInput` listing every problem when the METS is not valid."""
    problems = mets_problems(source)
    if problems:
        head = (
            problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
        )
        raise InvalidInput(f"METS does not validate: {head}", problems)


def premis_problems(element: etree._Element) -> list[str]:
    """Schema problems of one PREMIS element built alone (builders' unit tests)."""
    schema = load_schema("premis.xsd")
    if schema.validate(element):
        return []
    return _errors(schema, "PREMIS ")
