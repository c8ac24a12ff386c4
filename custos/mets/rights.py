"""PREMIS 3 rights builder: one ``premis:rights`` holding one ``rightsStatement``.

Archivematica records rights (rights.csv or the UI) on original files only, one
``rightsMD`` per statement, linked to the file through ``linkingObjectIdentifier``.
The statement is wrapped in ``premis:rights`` (not a bare ``rightsStatement``) because
that is the global PREMIS element metsrw reads back and premis.xsd validates alone.
Donor and Policy bases are PREMIS "Other" rights, as in Archivematica.
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
    el = _SubElement(parent, premis("rightsGranted"))
    _text(el, "act", grant.act)
    for restriction in grant.restrictions:
        _text(el, "restriction", restriction)
    _dates(el, "termOfGrant", grant.start_date, grant.end_date, grant.end_open)
    if grant.note:
        _text(el, "rightsGrantedNote", grant.note)


def _basis_information(statement: etree._Element, record: RightsRecord, basis: str) -> None:
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
    elif basis == "License":
        info = _SubElement(statement, premis("licenseInformation"))
        _text(info, "licenseTerms", record.license_terms)
        if record.license_note:
            _text(info, "licenseNote", record.license_note)
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
    else:
        info = _SubElement(statement, premis("otherRightsInformation"))
        _text(
            info,
            "otherRightsBasis",
            record.other_basis or _OTHER_BASES.get(record.basis.lower(), "Other"),
        )
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
