"""Reingest of stored AIPs: ``transfer/reingest``, ``ingest/reingest`` and approval.

Archivematica's Storage Service calls the reingest endpoints; here they go to
``custos.reingest``: a partial reingest keeps the AIP's UUID as the SIP UUID,
drops its old jobs and rebuilds the AIP. Full reingest (a new transfer) is not
supported by the core yet and answers 400 with the reason.
"""

from __future__ import annotations

from api.archivematica.errors import error
from api.archivematica.units import UUID_RE
from custos import reingest
from custos.errors import Conflict, InvalidInput, NotFound


def start(name: str | None, aip_uuid: str | None, *, target: str) -> str:
    """Start reingesting a stored AIP; returns the reingest uuid."""
    if not name or not aip_uuid:
        raise error(400, '"name" and "uuid" are required.')
    if not UUID_RE.match(aip_uuid):
        raise error(400, f"{aip_uuid!r} is not a UUID.")
    kind: reingest.ReingestType = "full" if target == "transfer" else "partial"
    try:
        return reingest.start_reingest(aip_uuid, kind)
    except (NotFound, Conflict, InvalidInput) as exc:
        raise error(400, exc.message) from exc


def approve(sip_uuid: str | None, username: str = "") -> None:
    """Answer "Approve AIP reingest" for the SIP, else the 400 Archivematica gives."""
    if not sip_uuid:
        raise error(400, '"uuid" is required.')
    try:
        reingest.approve_reingest(sip_uuid, by=username)
    except (NotFound, Conflict, InvalidInput) as exc:
        raise error(400, "Unable to approve the partial reingest.") from exc
