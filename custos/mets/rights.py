"""PREMIS 3 rights builder: one ``premis:rights`` holding one ``rightsStatement``.

Archivematica records rights (rights.csv or the UI) on original files only, one
``rightsMD`` per statement, linked to the file through ``linkingObjectIdentifier``.
The statement is wrapped in ``premis:rights`` (not a bare ``rightsStatement``) because
that is the global PREMIS element metsrw reads back and premis.xsd validates alone.
Donor and Policy bases are PREMIS "Other" rights, as in Archivematica. Each basis'
information carries its documentation identifiers and applicable dates (start, end or
``OPEN``), in premis.xsd's order, as Archivematica's ``archivematicaCreateMETSRights``.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from lxml import etree

from custos.mets.model import RightsGranted, RightsRecord
from custos.mets.ns import PREMIS_NSMAP, PREMIS_SCHEMA_LOCATION, XSI_SCHEMA_LOCATION, premis

_OTHER_BASES = {"donor": "Donor", "policy": "Policy", "other": "Other"}
_SubElement = etree.SubElement


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    el = _SubElement(parent, premis(tag))
    el.text = text
    return el


def _dates(
    parent: etree._Element, tag: str, start: date | None, end: date | None, open_end: bool
) -> None:
    if start is None and end is None and not open_end:
        return
    el = _SubElement(parent, premis(tag))
    _text(el, "startDate", start.isoformat() if start else "")
    if open_end:
        _text(el, "endDate", "OPEN")
    elif end is not None:
        _text(el, "endDate", end.isoformat())


def _granted(parent: etree._Element, grant: RightsGranted) -> None:
    """``rightsGranted``; its dates are a ``termOfRestriction`` when the act is
    restricted (Disallow, Conditional), else a ``termOfGrant``, as Archivematica writes."""
    el = _SubElement(parent, premis("rightsGranted"))
    _text(el, "act", grant.act)
    for restriction in grant.restrictions:
        _text(el, "restriction", restriction)
    restricted = any(r.lower() in {"disallow", "conditional"} for r in grant.restrictions)
    term = "termOfRestriction" if restricted else "termOfGrant"
    _dates(el, term, grant.start_date, grant.end_date, grant.end_open)
    if grant.note:
        _text(el, "rightsGrantedNote", grant.note)


def _documentation(parent: etree._Element, prefix: str, record: RightsRecord) -> None:
    for doc in record.documentation:
        el = _SubElement(parent, premis(f"{prefix}DocumentationIdentifier"))
        _text(el, f"{prefix}DocumentationIdentifierType", doc.type)
        _text(el, f"{prefix}DocumentationIdentifierValue", doc.value)
        if doc.role:
            _text(el, f"{prefix}DocumentationRole", doc.role)


def _applicable(parent: etree._Element, prefix: str, record: RightsRecord) -> None:
    _dates(parent, f"{prefix}ApplicableDates", record.start_date, record.end_date, record.end_open)


def _basis_information(statement: etree._Element, record: RightsRecord, basis: str) -> None:
    """The basis' information element, children in premis.xsd's order."""
    if basis == "Copyright":
        info = _SubElement(statement, premis("copyrightInformation"))
        _text(info, "copyrightStatus", record.copyright_status or "unknown")
        _text(info, "copyrightJurisdiction", record.copyright_jurisdiction or "unknown")
        if record.copyright_determination_date:
            _text(
                info,
                "copyrightStatusDeterminationDate",
                record.copyright_determination_date.isoformat(),
            )
        if record.copyright_note:
            _text(info, "copyrightNote", record.copyright_note)
        _documentation(info, "copyright", record)
        _applicable(info, "copyright", record)
    elif basis == "License":
        info = _SubElement(statement, premis("licenseInformation"))
        _documentation(info, "license", record)
        has_rest = record.license_note or record.start_date or record.end_date or record.end_open
        if record.license_terms or not (record.documentation or has_rest):
            _text(info, "licenseTerms", record.license_terms)
        if record.license_note:
            _text(info, "licenseNote", record.license_note)
        _applicable(info, "license", record)
    elif basis == "Statute":
        info = _SubElement(statement, premis("statuteInformation"))
        _text(info, "statuteJurisdiction", record.statute_jurisdiction)
        _text(info, "statuteCitation", record.statute_citation)
        if record.statute_determination_date:
            _text(
                info,
                "statuteInformationDeterminationDate",
                record.statute_determination_date.isoformat(),
            )
        if record.statute_note:
            _text(info, "statuteNote", record.statute_note)
        _documentation(info, "statute", record)
        _applicable(info, "statute", record)
    else:
        info = _SubElement(statement, premis("otherRightsInformation"))
        _documentation(info, "otherRights", record)
        _text(
            info,
            "otherRightsBasis",
            record.other_basis or _OTHER_BASES.get(record.basis.lower(), "Other"),
        )
        _applicable(info, "otherRights", record)
        if record.other_note:
            _text(info, "otherRightsNote", record.other_note)


def rights_element(
    record: RightsRecord, *, statement_uuid: UUID, object_uuid: UUID
) -> etree._Element:
    """``premis:rights`` for one rights statement applying to the file ``object_uuid``.

    ``statement_uuid`` is passed in (not read from ``record``) so the METS builder can
    fill records without an identifier from its injectable id generator.
    """
    basis = record.basis.strip().capitalize()
    premis_basis = basis if basis in {"Copyright", "License", "Statute"} else "Other"
    rights = etree.Element(
        premis("rights"),
        {XSI_SCHEMA_LOCATION: PREMIS_SCHEMA_LOCATION, "version": "3.0"},
        nsmap=PREMIS_NSMAP,
    )
    statement = _SubElement(rights, premis("rightsStatement"))
    ident = _SubElement(statement, premis("rightsStatementIdentifier"))
    _text(ident, "rightsStatementIdentifierType", "UUID")
    _text(ident, "rightsStatementIdentifierValue", str(statement_uuid))
    _text(statement, "rightsBasis", premis_basis)
    _basis_information(statement, record, premis_basis)
    for grant in record.granted:
        _granted(statement, grant)
    link = _SubElement(statement, premis("linkingObjectIdentifier"))
    _text(link, "linkingObjectIdentifierType", "UUID")
    _text(link, "linkingObjectIdentifierValue", str(object_uuid))
    return rights
