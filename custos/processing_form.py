"""Processing configurations as forms: one field per decision, named as Archivematica's
dashboard names it, with its choices labelled as its workflow labels them.

A form's values are strings: ``""`` means "not configured: ask" (no
``preconfiguredChoice``), yes/no decisions use ``yes`` and ``no``, the others their
:class:`custos.processing.ProcessingConfig` value (``7z-bzip2``, ``5``); the storage
location decisions take a location URI (``/api/v2/location/default/AS/``). The stored
form is the processingMCP.xml :func:`custos.processing.save` writes, read back before
it is kept.

Example::

    fields = form_fields(load_named("default"))
    config = config_from_form({"normalize": "preservation", "virus_scanning": "yes"})
    save_form("mine", {...})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from custos.errors import InvalidInput
from custos.processing import ProcessingConfig, save
from custos.settings import Settings

ASK = ""
YES_NO: dict[Any, str] = {True: "Yes", False: "No"}


@dataclass(frozen=True)
class FieldSpec:
    """A decision of the form: its config field, label, microservice group, the
    workflow's question, and each value's choice label (``None``: a location URI)."""

    name: str
    label: str
    group: str
    question: str
    choices: dict[Any, str] | None


#: Every decision of a processing configuration, in processing order.
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "approve_transfer",
        "Approve standard transfer",
        "Approve transfer",
        "Approve standard transfer",
        {True: "Approve transfer", False: "Reject transfer"},
    ),
    FieldSpec(
        "assign_uuids_to_directories",
        "Assign UUIDs to directories",
        "Assign file UUIDs and checksums",
        "Assign UUIDs to directories?",
        YES_NO,
    ),
    FieldSpec(
        "virus_scanning",
        "Virus scanning",
        "Scan for viruses",
        "Do you want to scan for viruses in directories, attachments, extracted files, "
        "metadata and submission documentation?",
        YES_NO,
    ),
    FieldSpec(
        "transfer_structure_report",
        "Generate transfer structure report",
        "Generate transfer structure report",
        "Generate transfer structure report",
        YES_NO,
    ),
    FieldSpec(
        "identify_transfer",
        "Perform file format identification (Transfer)",
        "Identify file format",
        "Do you want to perform file format identification?",
        YES_NO,
    ),
    FieldSpec(
        "extract_packages",
        "Extract packages",
        "Extract packages",
        "Extract packages?",
        YES_NO,
    ),
    FieldSpec(
        "delete_packages",
        "Delete packages after extraction",
        "Extract packages",
        "Delete package after extraction?",
        YES_NO,
    ),
    FieldSpec(
        "policy_checks_originals",
        "Perform policy checks on originals",
        "Validation",
        "Perform policy checks on originals?",
        YES_NO,
    ),
    FieldSpec(
        "examine_contents",
        "Examine contents",
        "Examine contents",
        "Examine contents?",
        {True: "Examine contents", False: "Skip examine contents"},
    ),
    FieldSpec(
        "create_sip",
        "Create SIP(s)",
        "Create SIP from Transfer",
        "Create SIP(s)",
        {
            "single": "Create single SIP and continue processing",
            "backlog": "Send to backlog",
            "reject": "Reject transfer",
        },
    ),
    FieldSpec(
        "identify_submission_docs",
        "Perform file format identification (Submission documentation & metadata)",
        "Process submission documentation",
        "Do you want to perform file format identification?",
        YES_NO,
    ),
    FieldSpec(
        "identify_ingest",
        "Perform file format identification (Ingest)",
        "Normalize",
        "Do you want to perform file format identification?",
        {True: "Yes", False: "No, use existing data"},
    ),
    FieldSpec(
        "normalize",
        "Normalize",
        "Normalize",
        "Normalize",
        {
            "preservation_access": "Normalize for preservation and access",
            "preservation": "Normalize for preservation",
            "access": "Normalize for access",
            "service_access": "Normalize service files for access",
            "manual": "Normalize manually",
            "none": "Do not normalize",
            "reject": "Reject SIP",
        },
    ),
    FieldSpec(
        "approve_normalization",
        "Approve normalization",
        "Normalize",
        "Approve normalization",
        {"approve": "Yes", "redo": "Redo", "reject": "Reject"},
    ),
    FieldSpec(
        "thumbnails",
        "Generate thumbnails",
        "Normalize",
        "Choose thumbnail mode",
        {"generate": "Yes", "generate_non_default": "Yes, without default icons", "none": "No"},
    ),
    FieldSpec(
        "policy_checks_preservation",
        "Perform policy checks on preservation derivatives",
        "Policy checks for derivatives",
        "Perform policy checks on preservation derivatives?",
        YES_NO,
    ),
    FieldSpec(
        "policy_checks_access",
        "Perform policy checks on access derivatives",
        "Policy checks for derivatives",
        "Perform policy checks on access derivatives?",
        YES_NO,
    ),
    FieldSpec("bind_pids", "Bind PIDs", "Bind PIDs", "Bind PIDs?", YES_NO),
    FieldSpec(
        "document_empty_dirs",
        "Document empty directories",
        "Generate AIP METS",
        "Document empty directories?",
        YES_NO,
    ),
    FieldSpec(
        "add_metadata_reminder",
        "Reminder: add metadata if desired",
        "Add final metadata",
        "Reminder: add metadata if desired",
        {True: "Continue"},
    ),
    FieldSpec(
        "transcribe",
        "Transcribe files (OCR)",
        "Transcribe SIP contents",
        "Transcribe SIP contents?",
        YES_NO,
    ),
    FieldSpec(
        "compression_algorithm",
        "Select compression algorithm",
        "Prepare AIP",
        "Select compression algorithm",
        {
            "7z-bzip2": "7z using bzip2",
            "7z-lzma": "7z using lzma",
            "7z-copy": "7z without compression",
            "tar.gz": "Gzipped tar",
            "tar.bz2": "Parallel bzip2",
            "uncompressed": "Uncompressed",
        },
    ),
    FieldSpec(
        "compression_level",
        "Select compression level",
        "Prepare AIP",
        "Select compression level",
        {
            1: "1 - fastest compression",
            3: "3 - fast compression",
            5: "5 - normal compression",
            7: "7 - maximum compression",
            9: "9 - ultra compression",
        },
    ),
    FieldSpec(
        "store_aip", "Store AIP", "Store AIP", "Store AIP", {True: "Yes", False: "Reject AIP"}
    ),
    FieldSpec("aip_location", "Store AIP location", "Store AIP", "Store AIP location", None),
    FieldSpec(
        "upload_dip",
        "Upload DIP",
        "Upload DIP",
        "Upload DIP",
        {
            "atom": "Upload DIP to AtoM",
            "archivesspace": "Upload DIP to ArchivesSpace",
            "contentdm": "Upload DIP to CONTENTdm",
            "none": "Do not upload DIP",
        },
    ),
    FieldSpec(
        "store_dip",
        "Store DIP",
        "Upload DIP",
        "Store DIP?",
        {True: "Store DIP", False: "Reject DIP"},
    ),
    FieldSpec("dip_location", "Store DIP location", "Upload DIP", "Store DIP location", None),
)
FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}


def encode(value: Any) -> str:
    """A config value as a form value (``""`` for ask, ``yes``/``no`` for booleans)."""
    if value is None:
        return ASK
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True)
class FormField:
    """One decision as a form shows it: its current value and its choices
    (``(form value, label)`` pairs, "ask" first)."""

    name: str
    label: str
    group: str
    question: str
    value: str
    choices: tuple[tuple[str, str], ...]
    free_text: bool = False


def form_fields(
    config: ProcessingConfig, locations: Mapping[str, str] | None = None
) -> list[FormField]:
    """The configuration as form fields; ``locations`` maps location URIs to labels
    for the storage-location decisions (a current value not among them is kept)."""
    out = []
    for spec in FIELDS:
        value = encode(getattr(config, spec.name))
        if spec.choices is None:
            options = dict(locations or {})
            if value and value not in options:
                options[value] = value
            choices = tuple(options.items())
        else:
            choices = tuple((encode(v), label) for v, label in spec.choices.items())
        out.append(
            FormField(
                name=spec.name,
                label=spec.label,
                group=spec.group,
                question=spec.question,
                value=value,
                choices=((ASK, "None (ask)"), *choices),
                free_text=spec.choices is None,
            )
        )
    return out


def _decode(spec: FieldSpec, raw: str) -> Any:
    if raw == ASK:
        return None
    if spec.choices is None:
        if not raw.startswith("/api/v2/location/") or not raw.endswith("/"):
            raise InvalidInput(
                f"{spec.label}: {raw!r} is not a location URI (/api/v2/location/<uuid>/)"
            )
        return raw
    for value in spec.choices:
        if encode(value) == raw:
            return value
    allowed = ", ".join(encode(v) for v in spec.choices)
    raise InvalidInput(f"{spec.label}: {raw!r} is not one of its choices ({allowed})")


def config_from_form(data: Mapping[str, str]) -> ProcessingConfig:
    """A configuration from form values; a missing field is "ask".

    Raises:
        InvalidInput: a value that is not one of its field's choices, or an unknown
            field (the message names the decision).
    """
    unknown = sorted(set(data) - set(FIELDS_BY_NAME))
    if unknown:
        raise InvalidInput(f"unknown processing decision(s): {', '.join(unknown)}")
    values = {name: _decode(FIELDS_BY_NAME[name], str(raw).strip()) for name, raw in data.items()}
    try:
        return ProcessingConfig(**values)
    except ValidationError as exc:  # pragma: no cover - _decode admits only valid values
        raise InvalidInput("invalid processing configuration", details=exc.errors()) from exc


def save_form(name: str, data: Mapping[str, str], settings: Settings | None = None) -> Path:
    """Validate form values and store them as the processingMCP.xml of ``name``.

    Raises:
        InvalidInput: a bad name or value; nothing is written then.
    """
    return save(name, config_from_form(data), settings)
