"""The transfer jobs that read what a user supplies in ``metadata/``.

Archivematica's documented transfer layout lets a user hand over, beside
``objects/``, files in ``metadata/`` that must reach the AIP METS. Each has its job,
named as Archivematica names it; each checks its file completely here, at transfer,
so a mistake fails the transfer at that job with the line (or element) at fault, not
the SIP much later. What they check is written into the AIP METS at *Generate AIP
METS* (``tasks.ingest.mets_task``), from the same parsers.

===============================================  ==========================================
Job                                              File
===============================================  ==========================================
Verify mets_structmap.xml compliance             ``metadata/mets_structmap.xml``
Process transfer JSON metadata                   ``metadata/metadata.json``
Load rights                                      ``metadata/rights.csv``
Load labels from metadata/file_labels.csv        ``metadata/file_labels.csv``
Load PREMIS events from metadata/premis.xml      ``metadata/premis.xml`` (events recorded)
===============================================  ==========================================

``docs/transfer.md`` (*Metadata supplied with a transfer*) describes each layout.
"""

from __future__ import annotations

from custos.models import FileUse
from tasks.metadata_rights import Original, match_rights

from .common import TransferContext

CHARACTERIZE_GROUP = "Characterize and extract metadata"


def _originals(ctx: TransferContext) -> list[Original]:
    return [
        Original(f.uuid, f.original_path, f.current_path)
        for f in ctx.files(uses=[FileUse.ORIGINAL])
    ]


def load_rights(ctx: TransferContext) -> None:
    """*Load rights*: every row of ``metadata/rights.csv`` parsed and matched to originals.

    Raises:
        InvalidInput: a bad cell or a row naming no original (line and column).
    """
    if not ctx.todo("Load rights"):
        return
    with ctx.recorder.job(ctx.uuid, CHARACTERIZE_GROUP, "Load rights") as job:
        path = ctx.directory / "metadata" / "rights.csv"
        if not path.is_file():
            job.output = "no metadata/rights.csv"
            return
        loaded = match_rights([path], _originals(ctx))
        job.output = "rights.csv: " + loaded.summary()
