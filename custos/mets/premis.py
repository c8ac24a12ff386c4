"""PREMIS 3 element builders: file objects, the intellectual entity, events and agents.

Each builder returns one self-contained ``premis:*`` element carrying ``version="3.0"``
and its own ``xsi:schemaLocation``, the shape Archivematica puts inside
``mdWrap/xmlData``; they know nothing about METS, so they can be validated alone
against premis.xsd. Characterization fragments are parsed with the safe parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from lxml import etree

from custos.errors import InvalidInput
from custos.mets.model import Agent, AIPFile, Derivation, Event, FormatInfo
from custos.mets.ns import (
    PREMIS_NSMAP,
    PREMIS_SCHEMA_LOCATION,
    XSI_SCHEMA_LOCATION,
    XSI_TYPE,
    premis,
    safe_parser,
)

PREMIS_VERSION = "3.0"

_SubElement = etree.SubElement


def _root(tag: str, xsi_type: str | None = None) -> etree._Element:
    attrib = {XSI_SCHEMA_LOCATION: PREMIS_SCHEMA_LOCATION, "version": PREMIS_VERSION}
    if xsi_type is not None:
        attrib = {XSI_TYPE: xsi_type, **attrib}
    return etree.Element(premis(tag), attrib, nsmap=PREMIS_NSMAP)


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    el = _SubElement(parent, premis(tag))
    el.text = text
    return el


def _identifier(parent: etree._Element, prefix: str, id_type: str, value: str) -> None:
    el = _SubElement(parent, premis(f"{prefix}Identifier"))
    _text(el, f"{prefix}IdentifierType", id_type)
    _text(el, f"{prefix}IdentifierValue", value)


def format_datetime(value: datetime) -> str:
    """ISO 8601 with offset, seconds precision; naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="seconds")


def parse_fragment(fragment: bytes | str) -> etree._Element:
    """Parse a characterization XML fragment safely (no entities, no network)."""
    data = fragment.encode("utf-8") if isinstance(fragment, str) else fragment
    try:
        return etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise InvalidInput("characterization output is not well-formed XML", str(exc)) from exc


def _format(parent: etree._Element, fmt: FormatInfo | None) -> None:
    el = _SubElement(parent, premis("format"))
    designation = _SubElement(el, premis("formatDesignation"))
    _text(designation, "formatName", fmt.name if fmt and fmt.name else "Unknown")
    if fmt and fmt.version:
        _text(designation, "formatVersion", fmt.version)
    if fmt and fmt.puid:
        registry = _SubElement(el, premis("formatRegistry"))
        _text(registry, "formatRegistryName", fmt.registry_name)
        _text(registry, "formatRegistryKey", fmt.puid)


def _relationship(parent: etree._Element, rel: Derivation) -> None:
    el = _SubElement(parent, premis("relationship"))
    _text(el, "relationshipType", rel.type)
    _text(el, "relationshipSubType", rel.sub_type)
    _identifier(el, "relatedObject", "UUID", str(rel.related_uuid))
    if rel.event_uuid is not None:
        _identifier(el, "relatedEvent", "UUID", str(rel.event_uuid))


def file_object(f: AIPFile) -> etree._Element:
    """``premis:object xsi:type="premis:file"`` for one file (the techMD content).

    Holds the UUID and any further identifiers, fixity, size, format (``Unknown``
    when unidentified), the file's characterization output in
    ``objectCharacteristicsExtension``, its original name and the derivation
    relationships between originals and their derivatives.
    """
    obj = _root("object", "premis:file")
    _identifier(obj, "object", "UUID", str(f.uuid))
    for id_type, value in f.identifiers:
        _identifier(obj, "object", id_type, value)
    chars = _SubElement(obj, premis("objectCharacteristics"))
    _text(chars, "compositionLevel", "0")
    fixity = _SubElement(chars, premis("fixity"))
    _text(fixity, "messageDigestAlgorithm", f.checksum_algorithm)
    _text(fixity, "messageDigest", f.checksum)
    _text(chars, "size", str(f.size))
    _format(chars, f.format)
    if f.date_created_by_application is not None:
        app = _SubElement(chars, premis("creatingApplication"))
        _text(app, "dateCreatedByApplication", format_datetime(f.date_created_by_application))
    for fragment in f.characterization:
        ext = _SubElement(chars, premis("objectCharacteristicsExtension"))
        ext.append(parse_fragment(fragment))
    if f.original_name:
        _text(obj, "originalName", f.original_name)
    for rel in f.derivations:
        _relationship(obj, rel)
    return obj


def intellectual_entity(
    uuid: UUID, original_name: str, identifiers: Iterable[tuple[str, str]] = ()
) -> etree._Element:
    """``premis:object xsi:type="premis:intellectualEntity"`` describing the AIP itself."""
    obj = _root("object", "premis:intellectualEntity")
    _identifier(obj, "object", "UUID", str(uuid))
    for id_type, value in identifiers:
        _identifier(obj, "object", id_type, value)
    _text(obj, "originalName", original_name)
    return obj


def event_element(event: Event) -> etree._Element:
    """``premis:event`` with detail, outcome and one linkingAgentIdentifier per agent."""
    el = _root("event")
    _identifier(el, "event", "UUID", str(event.uuid))
    _text(el, "eventType", event.type)
    _text(el, "eventDateTime", format_datetime(event.datetime))
    detail = _SubElement(el, premis("eventDetailInformation"))
    _text(detail, "eventDetail", event.detail)
    outcome = _SubElement(el, premis("eventOutcomeInformation"))
    _text(outcome, "eventOutcome", event.outcome)
    outcome_detail = _SubElement(outcome, premis("eventOutcomeDetail"))
    _text(outcome_detail, "eventOutcomeDetailNote", event.outcome_detail_note)
    for agent in event.agents:
        _identifier(el, "linkingAgent", agent.identifier_type, agent.identifier_value)
    return el


def agent_element(agent: Agent) -> etree._Element:
    """``premis:agent`` (identifier, name, type)."""
    el = _root("agent")
    _identifier(el, "agent", agent.identifier_type, agent.identifier_value)
    _text(el, "agentName", agent.name)
    _text(el, "agentType", agent.type)
    return el
