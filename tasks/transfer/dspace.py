"""DSpace transfers: the roles of the files of a DSpace AIP export.

A ``dspace`` transfer is a folder of DSpace item exports, one zip per item
(``ITEM@123456789-1.zip``), each holding the item's ``mets.xml`` and its
bitstreams. *Extract packages* unpacks them (always, for this type); then, as
Archivematica's ``identify_dspace_files.py`` does, every extracted ``mets.xml`` is
read and the bitstreams its ``fileGrp USE="LICENSE"`` lists become *license* files
and those of ``USE="TEXT"`` *text/ocr* files (the AIP METS puts them in the
``license`` and ``text/ocr`` fileGrps, and they are not normalized). The item's
``mets.xml`` itself is submission documentation (Archivematica's ``DSPACEMETS``, the
``submissionDocumentation`` fileGrp), not an object to normalize (*Identify DSpace
mets files*); the AIP METS links it to the item's originals
(``tasks.ingest.dspace_mets``).

A mets.xml that cannot be read fails the transfer naming it; one that names a
bitstream the item does not contain fails it too, naming both.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from prefect import task
from prefect.cache_policies import NONE

from custos.errors import InvalidInput
from custos.models import FileUse, TransferType

from .common import TransferContext, display_path, microservice

GROUP = "Identify DSpace files"
METS_NS = "http://www.loc.gov/METS/"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ROLES = {"LICENSE": FileUse.LICENSE, "TEXT": FileUse.OCR}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def bitstream_roles(mets_path: Path) -> dict[str, str]:
    """Bitstream href (relative to the mets.xml) -> Custos file use, from its fileSec."""
    try:
        root = etree.parse(str(mets_path), _PARSER).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise InvalidInput(f"{mets_path.name}: not a readable DSpace METS: {exc}") from exc
    roles = {}
    for grp in root.iterfind(f"{{{METS_NS}}}fileSec/{{{METS_NS}}}fileGrp"):
        use = ROLES.get(grp.get("USE", ""))
        if use is None:
            continue
        for flocat in grp.iterfind(f"{{{METS_NS}}}file/{{{METS_NS}}}FLocat"):
            href = flocat.get(XLINK_HREF)
            if href:
                roles[href] = use
    return roles


def _identify(ctx: TransferContext) -> None:
    if ctx.unit.transfer_type != TransferType.DSPACE or not ctx.todo(GROUP):
        return
    with ctx.recorder.job(ctx.uuid, GROUP, GROUP) as job:
        rows = ctx.files()
        by_path = {ctx.disk_path(f): f for f in rows}
        metses = [f for f in rows if Path(f.current_path).name == "mets.xml"]
        if not metses:
            raise InvalidInput("a DSpace transfer holds item exports with a mets.xml; none found")
        changes = []
        for mets in metses:
            mets_disk = ctx.disk_path(mets)
            changes.append({"uuid": mets.uuid, "use": FileUse.SUBMISSION_DOCUMENTATION})
            for href, use in bitstream_roles(mets_disk).items():
                row = by_path.get(mets_disk.parent / href)
                if row is None:
                    raise InvalidInput(
                        f"{display_path(mets.current_path)} lists {href}, which the item lacks"
                    )
                changes.append({"uuid": row.uuid, "use": use})
                job.task(
                    file_uuid=row.uuid,
                    file_name=row.current_path,
                    stdout=f"File: {href} Use: {use}",
                )
        ctx.recorder.update_files(changes)
        job.output = f"{len(metses)} items, {len(changes) - len(metses)} license or text files"


identify_dspace_files = task(name=GROUP, cache_policy=NONE)(microservice(_identify))
