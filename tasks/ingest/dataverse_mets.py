"""A Dataverse transfer's METS in the AIP METS (Archivematica's
``create_mets_dataverse_v2.py``).

The Dataverse METS the transfer wrote (*Convert Dataverse structure*) travels into the
SIP as ``objects/metadata/transfers/<transfer>/METS.xml``, beside the ``dataset.json``
it was written from. Its dataset-level dmdSecs (the DDI codebook, ``MDTYPE="DDI"``,
and the reference to ``dataset.json``) become dmdSecs of the AIP METS linked from the
``objects`` div (after its Dublin Core, if any), and each tabular file's DDI reference
a dmdSec linked from that file's div, as Archivematica writes them.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from custos.mets import model
from custos.mets.dataverse import DATASET, read_dataverse_mets

from .sip import Sip

TRANSFER_PREFIX = "%transferDirectory%"


def dataverse_metses(sip: Sip) -> list[Path]:
    """Every Dataverse METS among the SIP's transfer metadata."""
    transfers = sip.path / "objects" / "metadata" / "transfers"
    if not transfers.is_dir():
        return []
    return sorted(
        p / "METS.xml"
        for p in transfers.iterdir()
        if (p / "METS.xml").is_file() and (p / DATASET).is_file()
    )


def dataverse_sections(
    sip: Sip, files: tuple[model.AIPFile, ...]
) -> list[model.DescriptiveSection]:
    """The dmdSecs the AIP METS takes from the SIP's Dataverse METS files.

    Raises:
        InvalidInput: a Dataverse METS that cannot be read.
    """
    by_original = {
        f.original_name.removeprefix(TRANSFER_PREFIX): f.path
        for f in files
        if f.original_name.startswith(TRANSFER_PREFIX)
    }
    out = []
    for path in dataverse_metses(sip):
        found = read_dataverse_mets(path)
        for section in found.dataset_sections:
            for child in section:
                out.append(model.DescriptiveSection("objects", etree.tostring(child)))
        for href, sections in sorted(found.file_sections.items()):
            target = by_original.get(f"objects/{href}")
            if target is None:
                continue
            for section in sections:
                for child in section:
                    out.append(model.DescriptiveSection(target, etree.tostring(child)))
    return out
