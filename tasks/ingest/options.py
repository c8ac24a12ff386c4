"""The ingest decisions of a SIP, taken from :mod:`custos.processing`.

One source of truth: the transfer and the ingest read the same typed
:class:`~custos.processing.ProcessingConfig`, and the link and choice UUIDs come
from :data:`custos.processing.LINKS`, so a value means the same thing in the XML,
in the API and here. As in Archivematica, the SIP's own ``processingMCP.xml`` (the
transfer copies it into the SIP) answers first; without one, the unit's named
configuration does. ``Unit.variables["ingest_options"]`` may override single
fields by their ``ProcessingConfig`` names: reingest needs it (a metadata reingest
must not normalize whatever the configuration says), and tests use it.

This module only adds what the ingest steps need on top: the labels users read for
each value of a decision (the steps ask with ``StepContext.decide``, which offers the
labelled values of the field's link), and the packaging choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from custos import processing
from custos.errors import ConfigError, CustosError, NotFound
from custos.processing import ProcessingConfig
from tasks.tools.compress import Compression

NORMALIZE_LINK = processing.link_for("normalize").uuid
#: Not a ``ProcessingConfig`` field (Archivematica's UI never preconfigures it): asked.
APPROVE_REINGEST_LINK = "9520386f-bb6d-4fb9-a6b6-5845ef39375f"
APPROVE_REINGEST_CHOICES = {
    "260ef4ea-f87d-4acf-830d-d0de41e6d2af": "yes",
    "a6ed697e-6189-4b4e-9f80-29209abc7937": "reject",
}
APPROVE_REINGEST_LABELS = {"yes": "Approve AIP reingest", "reject": "Reject SIP"}

#: What the user reads for each value of a decision field (Archivematica's wording).
#: Only the values labelled here are offered.
LABELS: dict[str, dict[Any, str]] = {
    "normalize": {
        "preservation_access": "Normalize for preservation and access",
        "preservation": "Normalize for preservation",
        "access": "Normalize for access",
        "service_access": "Normalize service files for access",
        "manual": "Normalize manually",
        "none": "Do not normalize",
        "reject": "Reject SIP",
    },
    "approve_normalization": {"approve": "Yes", "redo": "Redo", "reject": "Reject"},
    "add_metadata_reminder": {True: "Continue"},
    "store_aip": {True: "Store AIP", False: "Reject AIP"},
    "upload_dip": {
        "atom": "Upload DIP to AtoM",
        "archivesspace": "Upload DIP to ArchivesSpace",
        "contentdm": "Upload DIP to CONTENTdm",
        "none": "Do not upload DIP",
    },
    "store_dip": {True: "Store DIP", False: "Reject DIP"},
    "identify_ingest": {True: "Yes", False: "No, use existing data"},
    "bind_pids": {False: "No"},  # Yes (a Handle server) is not offered: it is refused
    "document_empty_dirs": {True: "Yes", False: "No"},
}


def load_config(
    sip_dir: Path, config_name: str, overrides: dict[str, Any] | None = None
) -> ProcessingConfig:
    """The SIP's decisions: its own processingMCP.xml, else the named configuration.

    Raises:
        ConfigError: the file cannot be read, the name is unknown, or an override
            is not a valid ``ProcessingConfig`` field value.
    """
    own = sip_dir / "processingMCP.xml"
    try:
        config = (
            processing.read_file(own)
            if own.is_file()
            else processing.load_named(config_name or "default")
        )
    except NotFound as exc:
        raise ConfigError(str(exc)) from exc
    except ConfigError:
        raise
    except CustosError as exc:  # InvalidInput: a malformed file in the SIP
        raise ConfigError(f"processing configuration of the SIP: {exc}") from exc
    if overrides:
        try:
            config = ProcessingConfig.model_validate(config.model_dump() | overrides)
        except ValidationError as exc:
            raise ConfigError(
                f"invalid ingest options {sorted(overrides)}: {exc.errors()[0]['msg']}"
            ) from exc
    return config


def compression(config: ProcessingConfig) -> Compression:
    """The AIP packaging; Archivematica's default (7z with bzip2) when not configured."""
    value = config.compression_algorithm
    if value is None:
        return Compression.SEVEN_Z_BZIP2
    return Compression.UNCOMPRESSED if value == "uncompressed" else Compression(value)


def compression_level(config: ProcessingConfig) -> int:
    """The compression level; 5 (normal) when not configured."""
    return config.compression_level or 5


def thumbnails(config: ProcessingConfig) -> bool:
    """Whether thumbnails are made (they are unless the configuration says "No")."""
    return config.thumbnails != "none"
